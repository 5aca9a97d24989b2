using System.Net;
using Waypoint.Xds.Security;

namespace Waypoint.Xds;

/// <summary>How the xDS server is hosted.</summary>
public sealed class XdsServerOptions
{
    /// <summary>Port of the plaintext (h2c) endpoint: <c>waypoint local</c> and tests (istiod's plaintext xDS port).</summary>
    public const int DefaultPort = 15010;

    /// <summary>Port of the mutual-TLS endpoint, the in-cluster default (istiod's secure xDS port).</summary>
    public const int DefaultSecurePort = 15012;

    /// <summary>Where Kestrel listens (HTTP/2 only). Default 127.0.0.1:15010; in-cluster, 0.0.0.0:15012 with mutual TLS.</summary>
    public IPEndPoint ListenEndPoint { get; set; } = new(IPAddress.Loopback, DefaultPort);

    /// <summary>
    /// Mutual TLS (default: needs a <see cref="Waypoint.Agent.WorkloadCertificateManager"/> for the server's own
    /// certificate and an <see cref="IXdsIdentityGroups"/> granting node groups to identities) or plaintext, which
    /// only <c>waypoint local</c> and tests choose explicitly.
    /// </summary>
    public XdsTransportSecurity Transport { get; set; } = XdsTransportSecurity.MutualTls;

    /// <summary>
    /// Serve the debug JSON (<see cref="DebugPath"/>) beside the gRPC services. It answers only connections made to a
    /// loopback address (inside the pod, or through <c>kubectl port-forward</c>); any other gets 404.
    /// </summary>
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
