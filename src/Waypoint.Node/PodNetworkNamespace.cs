using System.Net;

namespace Waypoint.Node;

/// <summary>A running pod's network: the pod (UID, namespace, name), its IP, and its network namespace file.</summary>
public sealed record PodNetworkNamespace(string PodUid, string Namespace, string Name, IPAddress Address, string NamespacePath);
