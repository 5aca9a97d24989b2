using System.Security.Cryptography;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;

namespace Waypoint.Xds;

/// <summary>
/// One named xDS resource, encoded once: the packed <see cref="Any"/> is reused in every response to every
/// Envoy, so fanning a snapshot out costs no re-encoding.
/// </summary>
public sealed class XdsResource
{
    private XdsResource(string typeUrl, string name, IMessage message, Any packed, string version)
    {
        TypeUrl = typeUrl;
        Name = name;
        Message = message;
        Packed = packed;
        Version = version;
    }

    public string TypeUrl { get; }

    public string Name { get; }

    /// <summary>The resource message. Must not be modified once the resource is created.</summary>
    public IMessage Message { get; }

    /// <summary>The encoded resource, shared by all responses.</summary>
    public Any Packed { get; }

    /// <summary>Content hash of the encoded resource (the delta protocol's per-resource version).</summary>
    public string Version { get; }

    /// <summary>Encodes <paramref name="message"/> as a resource of <paramref name="typeUrl"/> named <paramref name="name"/>.</summary>
    public static XdsResource Create(string typeUrl, string name, IMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        return FromEncoded(typeUrl, name, message, message.ToByteString());
    }

    /// <summary>
    /// Wraps a resource someone already encoded (<paramref name="encoded"/> must be <paramref name="message"/>'s
    /// protobuf encoding): nothing is encoded again, only hashed for the version.
    /// </summary>
    public static XdsResource FromEncoded(string typeUrl, string name, IMessage message, ByteString encoded)
    {
        ArgumentException.ThrowIfNullOrEmpty(typeUrl);
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(message);
        ArgumentNullException.ThrowIfNull(encoded);
        return new XdsResource(typeUrl, name, message, new Any { TypeUrl = typeUrl, Value = encoded }, Hash(encoded.Span));
    }

    internal static string Hash(ReadOnlySpan<byte> bytes)
    {
        Span<byte> digest = stackalloc byte[32];
        SHA256.HashData(bytes, digest);
        return Convert.ToHexStringLower(digest[..8]);
    }
}
