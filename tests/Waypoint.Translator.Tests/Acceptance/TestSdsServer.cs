using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Envoy.Config.Core.V3;
using Envoy.Extensions.TransportSockets.Tls.V3;
using Envoy.Service.Discovery.V3;
using Envoy.Service.Secret.V3;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Waypoint.Translator.Tests.Acceptance;

/// <summary>
/// A minimal SDS server on a Unix socket (where the bootstrap's <c>sds-grpc</c> cluster points), serving a throwaway
/// CA as <c>ROOTCA</c> and a SPIFFE workload certificate as <c>default</c>, so the real SDS configs of the
/// translated listeners and clusters can warm. The agent plays this role in a pod.
/// </summary>
internal sealed class TestSdsServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly string _directory;

    private readonly Dictionary<string, Secret> _secrets;
    private readonly X509Certificate2 _ca;

    private TestSdsServer(WebApplication app, string directory, string socketPath, Dictionary<string, Secret> secrets, X509Certificate2 ca)
    {
        _secrets = secrets;
        _ca = ca;
        _app = app;
        _directory = directory;
        SocketPath = socketPath;
    }

    public string SocketPath { get; }

    /// <summary>The throwaway CA (PEM), for a test client that verifies the waypoint.</summary>
    public string CaPem => _secrets["ROOTCA"].ValidationContext.TrustedCa.InlineString;

    /// <summary>The workload certificate (PEM; a SPIFFE ID under the trust domain), usable by a test HBONE client too.</summary>
    public string CertificatePem => _secrets["default"].TlsCertificate.CertificateChain.InlineString;

    /// <summary>The workload certificate's private key (PEM; a throwaway test key).</summary>
    public string PrivateKeyPem => _secrets["default"].TlsCertificate.PrivateKey.InlineString;

    public static async Task<TestSdsServer> StartAsync(string spiffeId)
    {
        // Unix socket paths are limited to ~100 bytes: keep it short.
        var directory = Path.Combine(Path.GetTempPath(), "wp-sds-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(directory);
        var socketPath = Path.Combine(directory, "sds.sock");

        var (secrets, ca) = CreateSecrets(spiffeId);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(new SecretStore(secrets));
        builder.WebHost.ConfigureKestrel(k => k.ListenUnixSocket(socketPath, o => o.Protocols = HttpProtocols.Http2));
        var app = builder.Build();
        app.MapGrpcService<SdsService>();
        await app.StartAsync().ConfigureAwait(false);
        return new TestSdsServer(app, directory, socketPath, secrets, ca);
    }

    /// <summary>Another workload's certificate from the same CA (PEM chain and key): a client speaking for that identity.</summary>
    public (string CertificatePem, string PrivateKeyPem) IssueCertificate(string spiffeId)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var leaf = Issue(_ca, key, spiffeId);
        return (leaf.ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem());
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
        _ca.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: the socket may still be held briefly.
        }
    }

    private static (Dictionary<string, Secret> Secrets, X509Certificate2 Ca) CreateSecrets(string spiffeId)
    {
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("O=waypoint-test-ca", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        var now = DateTimeOffset.UtcNow;
        var ca = caRequest.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(1));

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var leaf = Issue(ca, key, spiffeId);

        var secrets = new Dictionary<string, Secret>(StringComparer.Ordinal)
        {
            ["default"] = new Secret
            {
                Name = "default",
                TlsCertificate = new TlsCertificate
                {
                    CertificateChain = new DataSource { InlineString = leaf.ExportCertificatePem() },
                    PrivateKey = new DataSource { InlineString = key.ExportPkcs8PrivateKeyPem() },
                },
            },
            ["ROOTCA"] = new Secret
            {
                Name = "ROOTCA",
                ValidationContext = new CertificateValidationContext { TrustedCa = new DataSource { InlineString = ca.ExportCertificatePem() } },
            },
        };
        return (secrets, ca);
    }

    /// <summary>A leaf valid exactly as long as its CA (a later notAfter would be refused).</summary>
    private static X509Certificate2 Issue(X509Certificate2 ca, ECDsa key, string spiffeId)
    {
        var request = new CertificateRequest("O=waypoint-test", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(new Uri(spiffeId));
        request.CertificateExtensions.Add(san.Build(critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        return request.Create(ca, ca.NotBefore.ToUniversalTime(), ca.NotAfter.ToUniversalTime(), RandomNumberGenerator.GetBytes(16));
    }

    private sealed record SecretStore(IReadOnlyDictionary<string, Secret> Secrets);

    private sealed class SdsService(SecretStore store) : SecretDiscoveryService.SecretDiscoveryServiceBase
    {
        public override async Task StreamSecrets(
            IAsyncStreamReader<DiscoveryRequest> requestStream,
            IServerStreamWriter<DiscoveryResponse> responseStream,
            ServerCallContext context)
        {
            var nonce = 0;
            var sent = new HashSet<string>(StringComparer.Ordinal);
            await foreach (var request in requestStream.ReadAllAsync(context.CancellationToken).ConfigureAwait(false))
            {
                var wanted = request.ResourceNames.Where(n => store.Secrets.ContainsKey(n) && !sent.Contains(n)).ToList();
                if (wanted.Count == 0)
                {
                    continue; // an ACK, or nothing new
                }

                var response = new DiscoveryResponse
                {
                    VersionInfo = "1",
                    TypeUrl = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
                    Nonce = (++nonce).ToString(System.Globalization.CultureInfo.InvariantCulture),
                };
                foreach (var name in request.ResourceNames.Where(store.Secrets.ContainsKey))
                {
                    response.Resources.Add(Any.Pack(store.Secrets[name]));
                    sent.Add(name);
                }

                await responseStream.WriteAsync(response).ConfigureAwait(false);
            }
        }
    }
}
