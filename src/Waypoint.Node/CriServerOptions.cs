using System.Net;
using Waypoint.Node.Images;

namespace Waypoint.Node;

/// <summary>Configuration of the CRI runtime (immutable once the server starts).</summary>
public sealed record CriServerOptions
{
    /// <summary>The unix socket the kubelet dials (<c>containerRuntimeEndpoint: unix://...</c>).</summary>
    public required string SocketPath { get; init; }

    /// <summary>The runtime's own state: pod network namespace files, per-container staging directories.</summary>
    public required string RootDirectory { get; init; }

    /// <summary>Which images run which host executables; anything else fails to pull.</summary>
    public required ImageMap Images { get; init; }

    /// <summary>The node's IP (on an interface of the box, e.g. <c>lo</c>): the address of host-network pods.</summary>
    public IPAddress NodeAddress { get; init; } = IPAddress.Parse("10.244.0.2");

    /// <summary>The pod network; pod IPs come from it as /32s.</summary>
    public IPAddress PodNetwork { get; init; } = IPAddress.Parse("10.244.0.0");

    public int PodNetworkPrefixLength { get; init; } = 16;

    /// <summary>The first pod IP handed out (10.244.0.x is left to the node).</summary>
    public IPAddress FirstPodAddress { get; init; } = IPAddress.Parse("10.244.1.2");

    public IEnumerable<string> Validate()
    {
        if (string.IsNullOrWhiteSpace(SocketPath) || !Path.IsPathFullyQualified(SocketPath))
        {
            yield return $"The CRI socket path must be absolute, not '{SocketPath}'.";
        }
        else if (System.Text.Encoding.UTF8.GetByteCount(SocketPath) > 107)
        {
            yield return $"The CRI socket path '{SocketPath}' is longer than a unix socket address allows (107 bytes).";
        }

        if (string.IsNullOrWhiteSpace(RootDirectory) || !Path.IsPathFullyQualified(RootDirectory))
        {
            yield return $"The runtime root directory must be absolute, not '{RootDirectory}'.";
        }

        if (PodNetworkPrefixLength is < 8 or > 30)
        {
            yield return $"The pod network prefix length must be 8..30, not {PodNetworkPrefixLength}.";
        }
    }
}
