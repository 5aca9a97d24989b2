using System.Net;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Istio.V1.Auth;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Waypoint.Agent.DevCa;

/// <summary>
/// Hosts an <c>IstioCertificateService</c> over TLS + HTTP/2 on a TCP endpoint, the way istiod serves port 15012.
/// The server certificate is chosen per handshake by <see cref="ServerCertificateSelector"/>, so tests can swap it.
/// For local/dev use: it holds CA keys in memory.
/// </summary>
public sealed class DevCaServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private DevCaServer(WebApplication app, IPEndPoint endPoint)
    {
        _app = app;
        EndPoint = endPoint;
    }

    /// <summary>The bound address (use port 0 to get a free one).</summary>
    public IPEndPoint EndPoint { get; }

    /// <summary>Starts <paramref name="service"/> on <paramref name="endPoint"/> presenting what <paramref name="serverCertificate"/> returns.</summary>
    public static async Task<DevCaServer> StartAsync<TService>(
        TService service,
        IPEndPoint endPoint,
        Func<X509Certificate2> serverCertificate,
        ILoggerFactory? loggerFactory = null,
        CancellationToken cancellationToken = default)
        where TService : IstioCertificateService.IstioCertificateServiceBase
    {
        ArgumentNullException.ThrowIfNull(service);
        ArgumentNullException.ThrowIfNull(endPoint);
        ArgumentNullException.ThrowIfNull(serverCertificate);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        if (loggerFactory is not null)
        {
            builder.Services.AddSingleton(loggerFactory);
        }

        builder.Services.AddSingleton(service);
        builder.Services.AddGrpc();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Listen(endPoint, l =>
            {
                l.Protocols = HttpProtocols.Http2;
                l.UseHttps(new HttpsConnectionAdapterOptions
                {
                    ServerCertificateSelector = (_, _) => serverCertificate(),
                    SslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                    // istiod: VerifyClientCertIfGiven.
                    ClientCertificateMode = ClientCertificateMode.AllowCertificate,
                    ClientCertificateValidation = (_, _, _) => true,
                });
            });
        });
        var app = builder.Build();
        app.MapGrpcService<TService>();
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        var bound = new Uri(app.Urls.First());
        return new DevCaServer(app, new IPEndPoint(endPoint.Address, bound.Port));
    }

    /// <summary>A dev CA with token review by <see cref="UnsignedJwtTokenReviewer"/>, serving istiod's names on <paramref name="endPoint"/>.</summary>
    public static Task<DevCaServer> StartAsync(DevCertificateAuthority authority, IPEndPoint endPoint, ITokenReviewer? reviewer = null, string clusterId = "Kubernetes", CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(authority);
        var certificate = authority.IssueServerCertificate();
        var service = new DevCaService(authority, new IstiodAuthenticator(reviewer ?? new UnsignedJwtTokenReviewer(), authority.TrustDomain, clusterId));
        return StartAsync(service, endPoint, () => certificate, cancellationToken: cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}
