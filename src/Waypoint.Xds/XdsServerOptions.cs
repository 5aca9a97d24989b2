using System.Net;

namespace Waypoint.Xds;

/// <summary>How the xDS server is hosted.</summary>
public sealed class XdsServerOptions
{
    /// <summary>Port of the in-cluster and local default endpoint.</summary>
    public const int DefaultPort = 15010;

    /// <summary>
    /// Where Kestrel listens (HTTP/2 without TLS, h2c). Default 127.0.0.1:15010 for local use; in-cluster, 0.0.0.0:15010.
    /// </summary>
    public IPEndPoint ListenEndPoint { get; set; } = new(IPAddress.Loopback, DefaultPort);

    /// <summary>Serve the debug JSON (<see cref="DebugPath"/>) beside the gRPC services.</summary>
    public bool EnableDebugEndpoint { get; set; } = true;

    public string DebugPath { get; set; } = "/debug/xds";

    /// <summary>Largest discovery response; a waypoint with many services sends large CDS/EDS responses.</summary>
    public int MaxSendMessageSize { get; set; } = 64 * 1024 * 1024;

    /// <summary>Parses <c>host:port</c> (IPv4, <c>[IPv6]:port</c>, or <c>*:port</c> for all interfaces).</summary>
    public static IPEndPoint ParseEndPoint(string value)
    {
        ArgumentException.ThrowIfNullOrEmpty(value);
        if (value.StartsWith("*:", StringComparison.Ordinal))
        {
            value = "0.0.0.0" + value[1..];
        }

        return IPEndPoint.TryParse(value, out var endPoint) && value.Contains(':', StringComparison.Ordinal)
            ? endPoint
            : throw new FormatException($"'{value}' is not an IP endpoint (expected e.g. 127.0.0.1:15010).");
    }
}
