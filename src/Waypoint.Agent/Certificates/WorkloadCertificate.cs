using System.Diagnostics;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Waypoint.Agent.Certificates;

/// <summary>
/// A validated workload certificate: the leaf for <see cref="Identity"/>, its intermediates, the trust bundle and the
/// private key. Immutable; a rotation replaces it whole.
/// </summary>
[DebuggerDisplay("{Identity} serial {SerialNumber} until {NotAfter}")]
public sealed class WorkloadCertificate
{
    internal WorkloadCertificate(
        string identity,
        X509Certificate2 leaf,
        IReadOnlyList<X509Certificate2> intermediates,
        IReadOnlyList<X509Certificate2> trustBundle,
        byte[] privateKeyPem,
        DateTimeOffset receivedAt)
    {
        Identity = identity;
        Leaf = leaf;
        Intermediates = intermediates;
        TrustBundle = trustBundle;
        PrivateKeyPem = privateKeyPem;
        ReceivedAt = receivedAt;
        CertificateChainPem = string.Concat(new[] { leaf }.Concat(intermediates).Select(c => c.ExportCertificatePem() + "\n"));
        TrustBundlePem = string.Concat(trustBundle.Select(c => c.ExportCertificatePem() + "\n"));
    }

    /// <summary>The SPIFFE ID in the leaf's URI SAN.</summary>
    public string Identity { get; }

    /// <summary>The leaf (public part only).</summary>
    public X509Certificate2 Leaf { get; }

    public IReadOnlyList<X509Certificate2> Intermediates { get; }

    /// <summary>Roots this workload trusts: those istiod returned plus the configured mesh roots (several during a root rotation).</summary>
    public IReadOnlyList<X509Certificate2> TrustBundle { get; }

    /// <summary>Leaf then intermediates, PEM (what SDS <c>default</c> carries as the certificate chain).</summary>
    public string CertificateChainPem { get; }

    /// <summary>The trust bundle, PEM (what SDS <c>ROOTCA</c> carries).</summary>
    public string TrustBundlePem { get; }

    public string SerialNumber => Leaf.SerialNumber;

    public DateTimeOffset NotBefore => new(Leaf.NotBefore.ToUniversalTime());

    public DateTimeOffset NotAfter => new(Leaf.NotAfter.ToUniversalTime());

    /// <summary>When the agent received it; rotation is scheduled from here, like pilot-agent, because istiod backdates NotBefore.</summary>
    public DateTimeOffset ReceivedAt { get; }

    /// <summary>PKCS#8 PEM of the private key. Never log it; it leaves the process only over the SDS socket.</summary>
    internal byte[] PrivateKeyPem { get; }

    public bool IsValidAt(DateTimeOffset now) => now >= NotBefore && now < NotAfter;

    /// <summary>The leaf with its private key, e.g. to present it from a .NET TLS client in the local rig.</summary>
    public X509Certificate2 CreateLeafWithPrivateKey() =>
        X509Certificate2.CreateFromPem(CertificateChainPem.AsSpan(), Encoding.ASCII.GetString(PrivateKeyPem).AsSpan());

    public override string ToString() => $"{Identity} (serial {SerialNumber}, valid until {NotAfter:O})";
}
