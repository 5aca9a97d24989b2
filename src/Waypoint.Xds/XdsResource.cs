using System.Security.Cryptography;
using Envoy.Config.Cluster.V3;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;

namespace Waypoint.Xds;

/// <summary>
/// One named xDS resource, encoded once: the packed <see cref="Any"/> is reused in every response to every
/// Envoy, so fanning a snapshot out costs no re-encoding.
/// </summary>
/// <remarks>
/// Only the encoding is kept, not the message it was made from: a snapshot of 10,000 clusters would otherwise hold
/// each cluster twice, once as bytes and once as an object graph several times their size. <see cref="Message"/>
/// decodes the bytes for the rare reader that needs the message.
/// </remarks>
public sealed class XdsResource
{
    private readonly MessageParser _parser;

    private XdsResource(string typeUrl, string name, MessageParser parser, Any packed, string version, string? edsServiceName)
    {
        TypeUrl = typeUrl;
        Name = name;
        _parser = parser;
        Packed = packed;
        Version = version;
        EdsServiceName = edsServiceName;
    }

    public string TypeUrl { get; }

    public string Name { get; }

    /// <summary>
    /// The resource message, decoded from <see cref="Packed"/> on each read (a new object every time, equal to the one
    /// the resource was made from). Meant for diagnostics; the server itself sends <see cref="Packed"/>.
    /// </summary>
    public IMessage Message => _parser.ParseFrom(Packed.Value);

    /// <summary>The encoded resource, shared by all responses.</summary>
    public Any Packed { get; }

    /// <summary>Content hash of the encoded resource (the delta protocol's per-resource version).</summary>
    public string Version { get; }

    /// <summary>For an EDS cluster, the endpoint name Envoy subscribes to for it; otherwise null.</summary>
    internal string? EdsServiceName { get; }

    /// <summary>Encodes <paramref name="message"/> as a resource of <paramref name="typeUrl"/> named <paramref name="name"/>.</summary>
    public static XdsResource Create(string typeUrl, string name, IMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        return Make(typeUrl, name, message.Descriptor.Parser, message, message.ToByteString());
    }

    /// <summary>
    /// Wraps a resource someone already encoded (<paramref name="encoded"/> must be <paramref name="message"/>'s
    /// protobuf encoding): nothing is encoded again, only hashed for the version.
    /// </summary>
    public static XdsResource FromEncoded(string typeUrl, string name, IMessage message, ByteString encoded)
    {
        ArgumentNullException.ThrowIfNull(message);
        return Make(typeUrl, name, message.Descriptor.Parser, message, encoded);
    }

    /// <summary>
    /// Wraps a resource someone already encoded, without its message: <paramref name="parser"/> is the parser of the
    /// message type <paramref name="encoded"/> encodes, used only when someone reads <see cref="Message"/>.
    /// </summary>
    public static XdsResource FromEncoded(string typeUrl, string name, MessageParser parser, ByteString encoded)
    {
        ArgumentNullException.ThrowIfNull(parser);
        return Make(typeUrl, name, parser, message: null, encoded);
    }

    internal static string Hash(ReadOnlySpan<byte> bytes)
    {
        Span<byte> digest = stackalloc byte[32];
        SHA256.HashData(bytes, digest);
        return Convert.ToHexStringLower(digest[..8]);
    }

    private static XdsResource Make(string typeUrl, string name, MessageParser parser, IMessage? message, ByteString encoded)
    {
        ArgumentException.ThrowIfNullOrEmpty(typeUrl);
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(encoded);
        string? edsServiceName = null;
        if (typeUrl == XdsTypeUrls.Cluster)
        {
            // Read once here, from the message when given, so that serving EDS never decodes a cluster.
            var cluster = message as Cluster ?? Cluster.Parser.ParseFrom(encoded);
            if (cluster.ClusterDiscoveryTypeCase == Cluster.ClusterDiscoveryTypeOneofCase.Type && cluster.Type == Cluster.Types.DiscoveryType.Eds)
            {
                var serviceName = cluster.EdsClusterConfig?.ServiceName is { Length: > 0 } configured ? configured : cluster.Name;
                edsServiceName = serviceName == name ? name : serviceName;
            }
        }

        return new XdsResource(typeUrl, name, parser, new Any { TypeUrl = typeUrl, Value = encoded }, Hash(encoded.Span), edsServiceName);
    }
}
