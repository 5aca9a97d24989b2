using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Waypoint.Xds;
using Waypoint.Xds.Security;

namespace Microsoft.AspNetCore.Hosting;

/// <summary>Kestrel endpoint for the xDS server.</summary>
public static class XdsKestrelExtensions
{
    /// <summary>
    /// Listens on <paramref name="endPoint"/> with HTTP/2 only, secured as <see cref="XdsServerOptions.Transport"/> says:
    /// mutual TLS (ALPN h2) with the certificate of <see cref="XdsServerTls"/>, or h2c (Envoy's gRPC client speaks
    /// HTTP/2 with prior knowledge) for plaintext. Raises the per-connection stream limit: one Envoy needs one stream,
    /// but in-process clients may multiplex many.
    /// </summary>
    public static KestrelServerOptions ListenWaypointXds(this KestrelServerOptions kestrel, IPEndPoint endPoint)
    {
        ArgumentNullException.ThrowIfNull(kestrel);
        ArgumentNullException.ThrowIfNull(endPoint);
        var services = kestrel.ApplicationServices
            ?? throw new InvalidOperationException("Kestrel has no application services; call ListenWaypointXds from ConfigureKestrel.");
        var options = services.GetRequiredService<IOptions<XdsServerOptions>>().Value;
        if (options.Transport == XdsTransportSecurity.MutualTls)
        {
            // Envoy's gRPC client sends ':scheme http' over TLS too; Kestrel would reset such streams (PROTOCOL_ERROR).
            kestrel.AllowAlternateSchemes = true;
        }

        kestrel.Listen(endPoint, listen =>
        {
            listen.Protocols = HttpProtocols.Http2;
            if (options.Transport == XdsTransportSecurity.MutualTls)
            {
                var tls = services.GetRequiredService<XdsServerTls>();
                listen.UseHttps(new TlsHandshakeCallbackOptions { OnConnection = tls.OnConnectionAsync, HandshakeTimeout = TimeSpan.FromSeconds(10) });
            }
        });
        kestrel.Limits.Http2.MaxStreamsPerConnection = Math.Max(kestrel.Limits.Http2.MaxStreamsPerConnection, 4096);
        return kestrel;
    }
}
