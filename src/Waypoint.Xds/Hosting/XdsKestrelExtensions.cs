using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Microsoft.AspNetCore.Hosting;

/// <summary>Kestrel endpoint for the xDS server.</summary>
public static class XdsKestrelExtensions
{
    /// <summary>
    /// Listens on <paramref name="endPoint"/> with HTTP/2 only (h2c: Envoy's gRPC client speaks HTTP/2 with prior
    /// knowledge, so no TLS/ALPN is needed). Raises the per-connection stream limit: one Envoy needs one stream, but
    /// in-process clients may multiplex many.
    /// </summary>
    public static KestrelServerOptions ListenWaypointXds(this KestrelServerOptions kestrel, IPEndPoint endPoint)
    {
        ArgumentNullException.ThrowIfNull(kestrel);
        ArgumentNullException.ThrowIfNull(endPoint);
        kestrel.Listen(endPoint, o => o.Protocols = HttpProtocols.Http2);
        kestrel.Limits.Http2.MaxStreamsPerConnection = Math.Max(kestrel.Limits.Http2.MaxStreamsPerConnection, 4096);
        return kestrel;
    }
}
