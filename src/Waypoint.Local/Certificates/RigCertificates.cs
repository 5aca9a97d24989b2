using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Waypoint.Agent.DevCa;

namespace Waypoint.Local.Certificates;

/// <summary>A certificate and key written as PEM files, for the statically configured ztunnel-role Envoys.</summary>
public sealed record PemFiles(string Identity, string CertificateChainPath, string PrivateKeyPath);

/// <summary>
/// Issues the rig's workload certificates from the dev CA (the same CA the agent reaches over istiod's protocol)
/// and writes them where the ztunnel-role Envoys read them. Keys never leave the rig's private directory (0700).
/// </summary>
public sealed class RigCertificates
{
    private readonly DevCertificateAuthority _authority;
    private readonly string _directory;
    private readonly Dictionary<string, PemFiles> _issued = new(StringComparer.Ordinal);

    public RigCertificates(DevCertificateAuthority authority, string directory)
    {
        ArgumentNullException.ThrowIfNull(authority);
        ArgumentException.ThrowIfNullOrEmpty(directory);
        _authority = authority;
        _directory = directory;
        Directory.CreateDirectory(directory);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        RootPath = Path.Combine(directory, "root-cert.pem");
        File.WriteAllText(RootPath, authority.RootBundlePem);
    }

    /// <summary>The mesh root bundle (PEM).</summary>
    public string RootPath { get; }

    public string TrustDomain => _authority.TrustDomain;

    /// <summary>The PEM files for <paramref name="identity"/>, issuing them on first use.</summary>
    public PemFiles For(string identity)
    {
        ArgumentException.ThrowIfNullOrEmpty(identity);
        lock (_issued)
        {
            if (_issued.TryGetValue(identity, out var existing))
            {
                return existing;
            }

            using var certificate = _authority.IssueWorkloadCertificate(identity, TimeSpan.FromDays(30));
            var name = Convert.ToHexString(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(identity)))[..16].ToLowerInvariant();
            var chainPath = Path.Combine(_directory, $"{name}.cert.pem");
            var keyPath = Path.Combine(_directory, $"{name}.key.pem");
            var chain = string.Concat(_authority.Chain(certificate).Take(_authority.Intermediate is null ? 1 : 2));
            File.WriteAllText(chainPath, chain);
            using var key = certificate.GetECDsaPrivateKey() ?? throw new InvalidOperationException("The dev CA issued a certificate without an ECDSA key.");
            File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(keyPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }

            var files = new PemFiles(identity, chainPath, keyPath);
            _issued[identity] = files;
            return files;
        }
    }

    /// <summary>An in-memory certificate with key for <paramref name="identity"/> (e.g. for a .NET TLS client).</summary>
    public X509Certificate2 IssueInMemory(string identity) => _authority.IssueWorkloadCertificate(identity);
}
