using Envoy.Config.Core.V3;
using Grpc.Core;
using Waypoint.Xds.Security;

namespace Waypoint.Xds;

/// <summary>Maps an Envoy node (and, over mutual TLS, its verified identity) to the node group whose snapshot it receives.</summary>
public interface INodeGroupResolver
{
    /// <param name="node">The node of the stream's first request.</param>
    /// <param name="peer">The client's verified identity; null over plaintext or when it presented no certificate.</param>
    NodeGroupResolution Resolve(Node node, XdsPeerIdentity? peer);
}

/// <summary>A resolver's verdict: the node group, or why the stream is refused (the status it ends with).</summary>
public readonly record struct NodeGroupResolution
{
    private NodeGroupResolution(string? nodeGroup, StatusCode refusal, string? reason)
    {
        NodeGroup = nodeGroup;
        Refusal = refusal;
        Reason = reason;
    }

    /// <summary>The group; null when refused.</summary>
    public string? NodeGroup { get; }

    /// <summary>The status a refused stream ends with (<see cref="StatusCode.OK"/> when accepted).</summary>
    public StatusCode Refusal { get; }

    /// <summary>Why the stream is refused, sent to the client and logged: names the identity and group, never a secret.</summary>
    public string? Reason { get; }

    public static NodeGroupResolution Accept(string nodeGroup)
    {
        ArgumentException.ThrowIfNullOrEmpty(nodeGroup);
        return new(nodeGroup, StatusCode.OK, null);
    }

    public static NodeGroupResolution Refuse(StatusCode code, string reason)
    {
        ArgumentException.ThrowIfNullOrEmpty(reason);
        return code == StatusCode.OK ? throw new ArgumentOutOfRangeException(nameof(code)) : new(null, code, reason);
    }
}

/// <summary>
/// Plaintext only (<see cref="XdsTransportSecurity.Plaintext"/>): the node's <c>cluster</c>, whoever asks. The bootstrap
/// sets it to <c>&lt;gateway-name&gt;.&lt;gateway-namespace&gt;</c>, so every replica of a waypoint shares one snapshot
/// while <c>node.id</c> stays per pod.
/// </summary>
public sealed class NodeClusterGroupResolver : INodeGroupResolver
{
    public NodeGroupResolution Resolve(Node node, XdsPeerIdentity? peer)
    {
        ArgumentNullException.ThrowIfNull(node);
        return string.IsNullOrEmpty(node.Cluster)
            ? NodeGroupResolution.Refuse(StatusCode.InvalidArgument, "the node cannot be mapped to a waypoint: node.cluster is empty (expected <gateway>.<namespace>)")
            : NodeGroupResolution.Accept(node.Cluster);
    }
}

/// <summary>
/// Mutual TLS (<see cref="XdsTransportSecurity.MutualTls"/>): the client must have a verified identity, and the group it
/// names in <c>node.cluster</c> must be one <see cref="IXdsIdentityGroups"/> grants that identity. Groups nobody is
/// granted (unknown, unpublished) are refused like any other, with the same message, so a client learns nothing about
/// which groups exist.
/// </summary>
public sealed class AuthenticatedNodeGroupResolver(IXdsIdentityGroups groups) : INodeGroupResolver
{
    private readonly IXdsIdentityGroups _groups = groups ?? throw new ArgumentNullException(nameof(groups));

    public NodeGroupResolution Resolve(Node node, XdsPeerIdentity? peer)
    {
        ArgumentNullException.ThrowIfNull(node);
        if (peer is null)
        {
            return NodeGroupResolution.Refuse(StatusCode.Unauthenticated, "a client certificate issued by the mesh CA is required");
        }

        if (string.IsNullOrEmpty(node.Cluster))
        {
            return NodeGroupResolution.Refuse(StatusCode.InvalidArgument, "the node cannot be mapped to a waypoint: node.cluster is empty (expected <gateway>.<namespace>)");
        }

        return _groups.GroupsOf(peer).Contains(node.Cluster, StringComparer.Ordinal)
            ? NodeGroupResolution.Accept(node.Cluster)
            : NodeGroupResolution.Refuse(StatusCode.PermissionDenied, $"identity '{peer}' may not read node group '{Truncate(node.Cluster)}'");
    }

    private static string Truncate(string value) => value.Length <= 128 ? value : value[..128] + "…";
}
