using Google.Protobuf;
using Envoy.Config.Core.V3;
using Envoy.Extensions.TransportSockets.Tls.V3;
using Waypoint.Agent.Certificates;

namespace Waypoint.Agent.Sds;

/// <summary>The two secrets Istio's proxies use, built from a <see cref="WorkloadCertificate"/>.</summary>
public static class SdsSecrets
{
    /// <summary>The workload's certificate chain and private key.</summary>
    public const string Default = "default";

    /// <summary>The trust bundle (validation context).</summary>
    public const string RootCa = "ROOTCA";

    public const string SecretTypeUrl = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";

    internal static Secret? Build(string name, WorkloadCertificate certificate) => name switch
    {
        Default => new Secret
        {
            Name = Default,
            TlsCertificate = new TlsCertificate
            {
                CertificateChain = new DataSource { InlineBytes = ByteString.CopyFromUtf8(certificate.CertificateChainPem) },
                PrivateKey = new DataSource { InlineBytes = ByteString.CopyFrom(certificate.PrivateKeyPem) },
            },
        },
        RootCa => new Secret
        {
            Name = RootCa,
            ValidationContext = new CertificateValidationContext
            {
                TrustedCa = new DataSource { InlineBytes = ByteString.CopyFromUtf8(certificate.TrustBundlePem) },
            },
        },
        _ => null,
    };

    /// <summary>What identifies a secret's content, so a push goes out only when it changed.</summary>
    internal static string? ContentKey(string name, WorkloadCertificate certificate) => name switch
    {
        Default => certificate.SerialNumber + "/" + certificate.Leaf.Thumbprint,
        RootCa => certificate.TrustBundlePem,
        _ => null,
    };
}
