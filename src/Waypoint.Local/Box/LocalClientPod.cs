namespace Waypoint.Local.Box;

/// <summary>
/// The ambient client pod <c>waypoint local</c> makes, so a request always has a mesh identity
/// (<c>spiffe://cluster.local/ns/waypoint-local-client/sa/client</c>): <c>waypoint local curl</c> runs curl in its
/// network namespace, where the node's ztunnel captures Service VIPs.
/// </summary>
public static class LocalClientPod
{
    public const string Namespace = "waypoint-local-client";

    public const string Name = "client";

    public const string Key = Namespace + "/" + Name;

    public const string FieldManager = "waypoint-local-client";

    public const string Manifest = """
        apiVersion: v1
        kind: Namespace
        metadata:
          name: waypoint-local-client
          labels: {istio.io/dataplane-mode: ambient}
        ---
        apiVersion: v1
        kind: ServiceAccount
        metadata: {name: client, namespace: waypoint-local-client}
        ---
        apiVersion: v1
        kind: Pod
        metadata:
          name: client
          namespace: waypoint-local-client
          labels: {app: client}
        spec:
          serviceAccountName: client
          containers:
          # The node runs waypoint/echo (a sleep-like server); curl itself runs in the pod's network namespace.
          - name: client
            image: waypoint/echo
        """;
}
