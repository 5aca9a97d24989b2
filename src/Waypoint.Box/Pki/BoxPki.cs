using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Waypoint.Box.Pki;

/// <summary>A certificate and its private key as PEM files in the PKI folder.</summary>
public sealed record IssuedCertificate(string Name, string CertificatePath, string KeyPath);

/// <summary>
/// The box's PKI, made with <see cref="CertificateRequest"/>: one CA (also the client CA and the request-header CA of
/// the API server, and the signer of kube-controller-manager), leaf certificates issued from it (ECDSA P-256), and
/// the key pair that signs ServiceAccount tokens (ECDSA P-256 too, ES256: the API server and kube-controller-manager
/// take it, and an RSA-2048 key generation was seconds of a loaded machine's start). Everything lives in one folder (mode 0700, keys 0600);
/// private keys are never logged.
/// </summary>
public sealed class BoxPki : IDisposable
{
    private const string CaName = "ca";
    private static readonly TimeSpan Validity = TimeSpan.FromDays(365);
    private readonly X509Certificate2 _ca;

    // Components start side by side and each issues its certificates: one signature with the CA key at a time.
    private readonly Lock _signing = new();

    private BoxPki(string directory, X509Certificate2 ca)
    {
        Directory = directory;
        _ca = ca;
    }

    public string Directory { get; }

    /// <summary>The CA certificate (public part only).</summary>
    public X509Certificate2 CaCertificate => X509CertificateLoader.LoadCertificate(_ca.RawData);

    public string CaCertificatePath => Path.Combine(Directory, "ca.crt");

    public string CaKeyPath => Path.Combine(Directory, "ca.key");

    /// <summary>ECDSA P-256 private key signing ServiceAccount tokens (<c>--service-account-signing-key-file</c>).</summary>
    public string ServiceAccountKeyPath => Path.Combine(Directory, "sa.key");

    /// <summary>Its public key (<c>--service-account-key-file</c>).</summary>
    public string ServiceAccountPublicKeyPath => Path.Combine(Directory, "sa.pub");

    /// <summary>Creates a new CA and ServiceAccount key pair in <paramref name="directory"/> (created with mode 0700).</summary>
    public static BoxPki Create(string directory)
    {
        CreatePrivateDirectory(directory);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName("CN=waypoint-box-ca"), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign | X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var now = DateTimeOffset.UtcNow;
        var ca = request.CreateSelfSigned(now.AddMinutes(-10), now.Add(Validity * 10));
        var pki = new BoxPki(directory, ca);
        WritePublic(pki.CaCertificatePath, ca.ExportCertificatePem());
        WritePrivate(pki.CaKeyPath, key.ExportPkcs8PrivateKeyPem());
        using var serviceAccount = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        WritePrivate(pki.ServiceAccountKeyPath, serviceAccount.ExportPkcs8PrivateKeyPem());
        WritePublic(pki.ServiceAccountPublicKeyPath, serviceAccount.ExportSubjectPublicKeyInfoPem());
        return pki;
    }

    /// <summary>Loads a PKI made by <see cref="Create"/> (reading the CA key needs the box's user, root).</summary>
    public static BoxPki Load(string directory)
    {
        var ca = X509Certificate2.CreateFromPemFile(Path.Combine(directory, "ca.crt"), Path.Combine(directory, "ca.key"));
        return new BoxPki(directory, ca);
    }

    /// <summary>
    /// A client certificate: <c>CN</c> is the Kubernetes user name, each <c>O</c> a group (e.g. <c>system:masters</c>;
    /// a kubelet is <c>O=system:nodes, CN=system:node:NODE</c>).
    /// </summary>
    public IssuedCertificate IssueClientCertificate(string name, string commonName, params string[] organizations) =>
        Issue(name, commonName, organizations, [], [], serverAuth: false);

    /// <summary>A serving certificate for host names and IP addresses (e.g. a kubelet's, for its node IP).</summary>
    public IssuedCertificate IssueServingCertificate(string name, string commonName, IEnumerable<string> dnsNames, IEnumerable<IPAddress> ipAddresses) =>
        Issue(name, commonName, [], dnsNames, ipAddresses, serverAuth: true);

    public void Dispose() => _ca.Dispose();

    internal static void CreatePrivateDirectory(string directory)
    {
        System.IO.Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        File.SetUnixFileMode(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    private IssuedCertificate Issue(string name, string commonName, IReadOnlyList<string> organizations, IEnumerable<string> dnsNames, IEnumerable<IPAddress> ipAddresses, bool serverAuth)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (name == CaName || name.Contains('/', StringComparison.Ordinal) || name.StartsWith('.'))
        {
            throw new ArgumentException($"'{name}' is not a usable certificate name.", nameof(name));
        }

        var subject = new X500DistinguishedNameBuilder();
        foreach (var organization in organizations)
        {
            subject.AddOrganizationName(organization);
        }

        subject.AddCommonName(commonName);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject.Build(), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [serverAuth ? new Oid("1.3.6.1.5.5.7.3.1") : new Oid("1.3.6.1.5.5.7.3.2")], false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(_ca, true, false));
        var san = new SubjectAlternativeNameBuilder();
        var hasSan = false;
        foreach (var dnsName in dnsNames)
        {
            san.AddDnsName(dnsName);
            hasSan = true;
        }

        foreach (var ipAddress in ipAddresses)
        {
            san.AddIpAddress(ipAddress);
            hasSan = true;
        }

        if (hasSan)
        {
            request.CertificateExtensions.Add(san.Build());
        }

        var now = DateTimeOffset.UtcNow;
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7f;
        using var certificate = Sign(request, now, serial);
        var issued = new IssuedCertificate(name, Path.Combine(Directory, $"{name}.crt"), Path.Combine(Directory, $"{name}.key"));
        WritePublic(issued.CertificatePath, certificate.ExportCertificatePem());
        WritePrivate(issued.KeyPath, key.ExportPkcs8PrivateKeyPem());
        return issued;
    }

    private X509Certificate2 Sign(CertificateRequest request, DateTimeOffset now, byte[] serial)
    {
        lock (_signing)
        {
            return request.Create(_ca, now.AddMinutes(-5), now.Add(Validity), serial);
        }
    }

    private static void WritePublic(string path, string pem) => File.WriteAllText(path, pem + "\n");

    private static void WritePrivate(string path, string pem)
    {
        using var stream = new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.Create,
            Access = FileAccess.Write,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        });
        using var writer = new StreamWriter(stream);
        writer.Write(pem);
        writer.Write('\n');
    }
}
