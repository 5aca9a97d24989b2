using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Waypoint.Agent.Certificates;

namespace Waypoint.Agent.DevCa;

/// <summary>
/// An in-process mesh CA that issues workload certificates by istiod's rules (security/pkg/pki/ca): the CSR's
/// signature is checked and its names ignored, the identity comes from the caller, TTL ≤ 0 means 24h, TTL over
/// 90 days is refused, leaves are backdated 2 minutes and clamped to the signer's NotAfter.
/// <para>For local and development use only (the <c>waypoint local</c> rig, tests): keys live in memory.</para>
/// </summary>
public sealed class DevCertificateAuthority : IDisposable
{
    public static readonly TimeSpan DefaultWorkloadTtl = TimeSpan.FromHours(24);
    public static readonly TimeSpan MaxWorkloadTtl = TimeSpan.FromDays(90);

    /// <summary>istiod backdates leaves for clock skew.</summary>
    public static readonly TimeSpan ClockSkewGrace = TimeSpan.FromMinutes(2);

    private readonly TimeProvider _time;
    private readonly List<X509Certificate2> _extraRoots = [];

    private DevCertificateAuthority(string trustDomain, X509Certificate2 root, X509Certificate2? intermediate, TimeProvider time)
    {
        TrustDomain = trustDomain;
        Root = root;
        Intermediate = intermediate;
        _time = time;
    }

    public string TrustDomain { get; }

    /// <summary>The self-signed root, with its private key.</summary>
    public X509Certificate2 Root { get; }

    /// <summary>The issuing intermediate when created with one (like a plugged-in <c>cacerts</c> CA).</summary>
    public X509Certificate2? Intermediate { get; }

    /// <summary>Issues leaves: the intermediate if any, else the root.</summary>
    public X509Certificate2 Signer => Intermediate ?? Root;

    /// <summary>The roots clients should trust: ours first, then any added with <see cref="AddTrustedRoot"/> (a root rotation).</summary>
    public string RootBundlePem
    {
        get
        {
            lock (_extraRoots)
            {
                return string.Concat(new[] { Root }.Concat(_extraRoots).Select(c => c.ExportCertificatePem() + "\n"));
            }
        }
    }

    /// <summary>Just this CA's root, PEM (the <c>root-cert.pem</c> of ConfigMap <c>istio-ca-root-cert</c>).</summary>
    public string RootCertificatePem => Root.ExportCertificatePem() + "\n";

    /// <summary>Creates a CA with an RSA 2048 root <c>O=&lt;trustDomain&gt;</c> valid 10 years (istiod's self-signed CA), optionally an intermediate.</summary>
    public static DevCertificateAuthority Create(string trustDomain = "cluster.local", bool withIntermediate = false, TimeProvider? timeProvider = null, TimeSpan? rootLifetime = null)
    {
        var time = timeProvider ?? TimeProvider.System;
        var now = time.GetUtcNow();
        var root = CreateCa(new X500DistinguishedName($"O={trustDomain}"), issuer: null, now - TimeSpan.FromDays(1), now + (rootLifetime ?? TimeSpan.FromDays(3650)));
        var intermediate = withIntermediate
            ? CreateCa(new X500DistinguishedName($"O={trustDomain}, CN=Intermediate CA"), root, now - TimeSpan.FromHours(12), root.NotAfter.ToUniversalTime() - TimeSpan.FromMinutes(1))
            : null;
        return new DevCertificateAuthority(trustDomain, root, intermediate, time);
    }

    /// <summary>Adds another root to <see cref="RootBundlePem"/>, as istiod does while rotating roots.</summary>
    public void AddTrustedRoot(X509Certificate2 root)
    {
        ArgumentNullException.ThrowIfNull(root);
        lock (_extraRoots)
        {
            _extraRoots.Add(root);
        }
    }

    /// <summary>
    /// Signs <paramref name="csrPem"/> for <paramref name="identity"/> and answers like istiod: <c>[leaf, intermediates…, root bundle]</c>.
    /// Errors are <see cref="RpcException"/> with istiod's codes (InvalidArgument for the CSR or TTL, Internal for an expired signer).
    /// </summary>
    public IReadOnlyList<string> Sign(string csrPem, long validitySeconds, string identity)
    {
        ArgumentException.ThrowIfNullOrEmpty(identity);
        var ttl = ResolveTtl(validitySeconds);
        CertificateRequest request;
        try
        {
            // Default load options verify the signature (proof of possession) and drop requested extensions: istiod ignores them.
            request = CertificateRequest.LoadSigningRequestPem(csrPem ?? string.Empty, HashAlgorithmName.SHA256);
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"CSR signing error ({ex.Message})"));
        }

        var leaf = Issue(request.PublicKey, identity, ttl);
        return Chain(leaf);
    }

    /// <summary>The response elements for an already issued leaf: leaf, intermediate (if any), root bundle.</summary>
    public IReadOnlyList<string> Chain(X509Certificate2 leaf)
    {
        ArgumentNullException.ThrowIfNull(leaf);
        var chain = new List<string> { leaf.ExportCertificatePem() + "\n" };
        if (Intermediate is not null)
        {
            chain.Add(Intermediate.ExportCertificatePem() + "\n");
        }

        chain.Add(RootBundlePem);
        return chain;
    }

    /// <summary>A workload leaf for <paramref name="publicKey"/> with istiod's profile (empty subject, critical URI SAN, server+client auth).</summary>
    public X509Certificate2 Issue(PublicKey publicKey, string identity, TimeSpan ttl, DateTimeOffset? notBefore = null, X509Certificate2? signer = null)
    {
        ArgumentNullException.ThrowIfNull(publicKey);
        signer ??= Signer;
        var now = _time.GetUtcNow();
        var signerNotAfter = new DateTimeOffset(signer.NotAfter.ToUniversalTime());
        if (signerNotAfter <= now)
        {
            throw new RpcException(new Status(StatusCode.Internal, "failed to sign the certificate: the CA certificate has expired"));
        }

        var from = notBefore ?? now - ClockSkewGrace;
        var signerNotBefore = new DateTimeOffset(signer.NotBefore.ToUniversalTime());
        if (from < signerNotBefore)
        {
            from = signerNotBefore;
        }

        var until = now + ttl;
        if (until > signerNotAfter)
        {
            until = signerNotAfter;
        }

        var request = new CertificateRequest(new X500DistinguishedName(string.Empty), publicKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(X509Names.BuildUriSanExtension([identity], critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], critical: false));
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: false, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(signer, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        return CreateSignedBy(request, signer, from, until);
    }

    /// <summary>A workload certificate with a fresh ECDSA key, e.g. for a test peer or a local client presenting a mesh identity.</summary>
    public X509Certificate2 IssueWorkloadCertificate(string identity, TimeSpan? ttl = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName(string.Empty), key, HashAlgorithmName.SHA256);
        using var leaf = Issue(request.PublicKey, identity, ttl ?? DefaultWorkloadTtl);
        return Exportable(leaf, key);
    }

    /// <summary>
    /// A TLS server certificate for istiod's names (by default those istiod's own certificate carries), signed by the
    /// root so that clients holding only <c>root-cert.pem</c> can verify it without the intermediate.
    /// </summary>
    public X509Certificate2 IssueServerCertificate(IEnumerable<string>? dnsNames = null, string istioNamespace = "istio-system")
    {
        dnsNames ??= [$"istiod.{istioNamespace}.svc", $"istiod-remote.{istioNamespace}.svc", $"istio-pilot.{istioNamespace}.svc"];
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName(string.Empty), key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        foreach (var name in dnsNames)
        {
            san.AddDnsName(name);
        }

        request.CertificateExtensions.Add(san.Build(critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, critical: true));
        var now = _time.GetUtcNow();
        using var cert = CreateSignedBy(request, Root, now - ClockSkewGrace, Min(now + TimeSpan.FromDays(365), Root.NotAfter));
        return Exportable(cert, key);
    }

    /// <summary>Attaches the key through a PKCS#12 round-trip, so TLS stacks (Kestrel, SslStream) can use it on every platform.</summary>
    private static X509Certificate2 Exportable(X509Certificate2 certificate, ECDsa key)
    {
        using var withKey = certificate.CopyWithPrivateKey(key);
        return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), password: null);
    }

    /// <summary>istiod's TTL rules: ≤ 0 is the default (24h), above the max (90d) is refused, not clamped.</summary>
    public static TimeSpan ResolveTtl(long validitySeconds)
    {
        if (validitySeconds <= 0)
        {
            return DefaultWorkloadTtl;
        }

        return validitySeconds > (long)MaxWorkloadTtl.TotalSeconds
            ? throw new RpcException(new Status(StatusCode.InvalidArgument,
                $"CSR signing error (requested TTL {GoDuration(TimeSpan.FromSeconds(validitySeconds))} is greater than the max allowed TTL {GoDuration(MaxWorkloadTtl)})"))
            : TimeSpan.FromSeconds(validitySeconds);
    }

    /// <summary>A whole-second duration as Go prints it (<c>2184h0m0s</c>), istiod's wording (checked against the real one).</summary>
    private static string GoDuration(TimeSpan duration) =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{(long)duration.TotalHours}h{duration.Minutes}m{duration.Seconds}s");

    public void Dispose()
    {
        Root.Dispose();
        Intermediate?.Dispose();
    }

    private static X509Certificate2 CreateCa(X500DistinguishedName subject, X509Certificate2? issuer, DateTimeOffset notBefore, DateTimeOffset notAfter)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        if (issuer is null)
        {
            return request.CreateSelfSigned(notBefore, notAfter);
        }

        using var cert = request.Create(issuer, notBefore, notAfter, NewSerial());
        return cert.CopyWithPrivateKey(key);
    }

    /// <summary>Signs with the issuer's key whatever the subject key's algorithm (an RSA root may sign an ECDSA leaf).</summary>
    private static X509Certificate2 CreateSignedBy(CertificateRequest request, X509Certificate2 issuer, DateTimeOffset notBefore, DateTimeOffset notAfter)
    {
        using var rsa = issuer.GetRSAPrivateKey();
        using var ecdsa = rsa is null ? issuer.GetECDsaPrivateKey() : null;
        var generator = rsa is not null
            ? X509SignatureGenerator.CreateForRSA(rsa, RSASignaturePadding.Pkcs1)
            : X509SignatureGenerator.CreateForECDsa(ecdsa ?? throw new InvalidOperationException("The issuer certificate has no RSA or ECDSA private key."));
        return request.Create(issuer.SubjectName, generator, notBefore, notAfter, NewSerial());
    }

    private static DateTimeOffset Min(DateTimeOffset a, DateTime b)
    {
        var other = new DateTimeOffset(b.ToUniversalTime());
        return a < other ? a : other;
    }

    /// <summary>128 random bits, top bit clear so the DER integer stays positive.</summary>
    private static byte[] NewSerial()
    {
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        serial[0] |= 0x01;
        return serial;
    }
}
