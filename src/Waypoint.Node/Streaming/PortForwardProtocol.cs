using System.Buffers.Binary;
using System.Globalization;

namespace Waypoint.Node.Streaming;

/// <summary>
/// The WebSocket form of Kubernetes' port-forward protocol (what the kubelet's streaming library serves): for the
/// i-th requested port, channel 2i carries the data both ways and channel 2i+1 the errors (server to client). The
/// first message of each of the two channels is the port, an unsigned 16-bit little-endian integer. Every binary
/// message starts with its channel byte (<c>v4.channel.k8s.io</c>, or no subprotocol at all); in
/// <c>v4.base64.channel.k8s.io</c> the messages are text: the channel as an ASCII digit, then the data in base64.
/// The connection closes once every port's connection has ended.
/// </summary>
internal static class PortForwardProtocol
{
    public const string V4Binary = "v4.channel.k8s.io";
    public const string V4Base64 = "v4.base64.channel.k8s.io";

    /// <summary>At most this many ports per request: two channels each, and a channel is one byte.</summary>
    public const int MaxPorts = 128;

    /// <summary>Ours, most preferred first.</summary>
    public static readonly IReadOnlyList<string> Supported = [V4Binary, V4Base64];

    /// <summary>
    /// The protocol to answer with: one of ours from the client's offer; the empty string (binary framing, no
    /// subprotocol header) when the client offered none; null when it offered only others.
    /// </summary>
    public static string? Negotiate(IEnumerable<string> offered)
    {
        var offer = offered.SelectMany(o => o.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToHashSet(StringComparer.Ordinal);
        return offer.Count == 0 ? string.Empty : Supported.FirstOrDefault(offer.Contains);
    }

    public static byte DataChannel(int portIndex) => checked((byte)(2 * portIndex));

    public static byte ErrorChannel(int portIndex) => checked((byte)((2 * portIndex) + 1));

    /// <summary>The first message's payload on both channels of a port.</summary>
    public static byte[] PortPrefix(int port)
    {
        var bytes = new byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(bytes, checked((ushort)port));
        return bytes;
    }

    /// <summary>The ports of a request's <c>port</c> query values (each may be a comma-separated list), as the kubelet parses them; null when one is not a port.</summary>
    public static IReadOnlyList<int>? ParsePorts(IEnumerable<string?> values)
    {
        var ports = new List<int>();
        foreach (var part in values.SelectMany(v => (v ?? string.Empty).Split(',')))
        {
            if (!ushort.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port == 0)
            {
                return null;
            }

            ports.Add(port);
        }

        return ports;
    }

    /// <summary>The error text for a port that could not be forwarded (the kubelet's wording: clients print it).</summary>
    public static string ForwardingError(int port, string podSandboxId, string problem) =>
        $"error forwarding port {port.ToString(CultureInfo.InvariantCulture)} to pod {podSandboxId}, uid : {problem}";
}
