using Envoy.Config.Core.V3;

namespace Waypoint.Xds;

/// <summary>Maps an Envoy node to the node group (waypoint) whose snapshot it receives.</summary>
public interface INodeGroupResolver
{
    /// <summary>The node group, or null when the node cannot be placed (the stream is then refused).</summary>
    string? Resolve(Node node);
}

/// <summary>
/// The default: the node's <c>cluster</c>. The bootstrap sets it to <c>&lt;gateway-name&gt;.&lt;gateway-namespace&gt;</c>,
/// so every replica of a waypoint shares one snapshot while <c>node.id</c> stays per pod.
/// </summary>
public sealed class NodeClusterGroupResolver : INodeGroupResolver
{
    public string? Resolve(Node node)
    {
        ArgumentNullException.ThrowIfNull(node);
        return string.IsNullOrEmpty(node.Cluster) ? null : node.Cluster;
    }
}
