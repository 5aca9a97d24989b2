namespace Waypoint.Node.Streaming;

/// <summary>
/// One streaming port-forward the kubelet asked for (CRI <c>PortForward</c>): the sandbox, its network namespace file
/// (null for a host-network pod: the node's own) and the ports to connect to on 127.0.0.1 there.
/// </summary>
internal sealed record PortForwardSessionRequest(string PodSandboxId, string? NetworkNamespacePath, IReadOnlyList<int> Ports);
