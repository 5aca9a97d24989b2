using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace Waypoint.TestKit.Pki;

/// <summary>
/// An HTTP/2-over-TLS 1.3 client that talks to a waypoint like a mesh peer: presents an optional client certificate,
/// trusts only the given roots, and records each server certificate it saw and each TCP connection it opened
/// (so tests can tell a reused connection from a new one).
/// </summary>
public sealed class MeshTlsClient : IDisposable
{
    private readonly List<X509Certificate2> _serverCertificates = [];
    private int _connections;

    public MeshTlsClient(IPEndPoint target, X509Certificate2Collection trustedRoots, X509Certificate2? clientCertificate = null, string serverName = "waypoint.test")
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(trustedRoots);
        var policy = new X509ChainPolicy
        {
            TrustMode = X509ChainTrustMode.CustomRootTrust,
            RevocationMode = X509RevocationMode.NoCheck,
            DisableCertificateDownloads = true,
        };
        policy.CustomTrustStore.AddRange(trustedRoots);
        var handler = new SocketsHttpHandler
        {
            MaxConnectionsPerServer = 1,
            EnableMultipleHttp2Connections = false,
            ConnectCallback = async (_, ct) =>
            {
                Interlocked.Increment(ref _connections);
                var socket = new Socket(target.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    await socket.ConnectAsync(target, ct).ConfigureAwait(false);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
            SslOptions = new SslClientAuthenticationOptions
            {
                EnabledSslProtocols = SslProtocols.Tls13,
                ApplicationProtocols = [SslApplicationProtocol.Http2],
                ClientCertificates = clientCertificate is null ? null : new X509CertificateCollection { clientCertificate },
                // Workload certificates carry only a URI SAN; the test checks the identity itself, so skip name matching.
                RemoteCertificateValidationCallback = (_, certificate, chain, errors) =>
                {
                    if (certificate is null)
                    {
                        return false;
                    }

                    var presented = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
                    lock (_serverCertificates)
                    {
                        _serverCertificates.Add(presented);
                    }

                    using var verify = new X509Chain { ChainPolicy = policy.Clone() };
                    return verify.Build(presented);
                },
            },
        };
        Http = new HttpClient(handler)
        {
            BaseAddress = new Uri($"https://{serverName}:{target.Port}/"),
            DefaultRequestVersion = HttpVersion.Version20,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Timeout = TimeSpan.FromSeconds(10),
        };
    }

    public HttpClient Http { get; }

    /// <summary>TCP connections opened so far.</summary>
    public int Connections => Volatile.Read(ref _connections);

    /// <summary>Server certificates seen, one per TLS handshake, in order.</summary>
    public IReadOnlyList<X509Certificate2> ServerCertificates
    {
        get
        {
            lock (_serverCertificates)
            {
                return [.. _serverCertificates];
            }
        }
    }

    public void Dispose() => Http.Dispose();
}
