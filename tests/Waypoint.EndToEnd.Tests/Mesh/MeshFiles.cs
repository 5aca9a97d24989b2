namespace Waypoint.EndToEnd.Tests.Mesh;

/// <summary>The directory <see cref="MeshBoxFixture"/> applies: every test class's files, each class in a namespace of its own.</summary>
internal static class MeshFiles
{
    public static IReadOnlyDictionary<string, string> All { get; } = new[] { BasicsMesh.Files, FeaturesMesh.Files, TrafficPolicyMesh.Files, LiveMesh.Files, AuthorizationMesh.Files }
        .SelectMany(f => f).ToDictionary(f => f.Key, f => f.Value, StringComparer.Ordinal);

    public static IReadOnlyList<string> Namespaces { get; } = [BasicsMesh.Ns, FeaturesMesh.Ns, TrafficPolicyMesh.Ns, LiveMesh.Ns, AuthorizationMesh.Ns];

    /// <summary>Ambient namespaces without a waypoint: their pods are clients with identities of their own.</summary>
    public static IReadOnlyList<string> ClientNamespaces { get; } = [AuthorizationMesh.CallerA.Namespace, AuthorizationMesh.CallerB.Namespace];

    /// <summary>The echo pods the files make (the waypoints' pods come on top).</summary>
    public static int PodCount => All.Values.Sum(yaml => yaml.Split("\nkind: Pod\n").Length - 1);

    /// <summary>
    /// Per namespace, a request whose answer shows its waypoint serves the last of its files (route filters, policies);
    /// <c>server: envoy</c> shows an answer came through a waypoint (the echo's own is Kestrel's).
    /// </summary>
    public static IReadOnlyList<(string Url, string? Header, string? Value)> Canaries { get; } =
    [
        ($"http://bound.{BasicsMesh.Ns}.svc.cluster.local/ready", "server", "envoy"),
        ($"http://unbound.{BasicsMesh.Ns}.svc.cluster.local/ready", null, null),
        ($"http://mods.{FeaturesMesh.Ns}.svc.cluster.local/ready", "x-resp", "yes"),
        ($"http://retry.{FeaturesMesh.Ns}.svc.cluster.local/ready", "server", "envoy"),
        ($"http://gw-b.{TrafficPolicyMesh.Ns}.svc.cluster.local/ready", "x-mesh-default", "route"),
        ($"http://gw-a.{TrafficPolicyMesh.Ns}.svc.cluster.local/ready", "x-mesh-default", "gateway"),
        ($"http://app.{LiveMesh.Ns}.svc.cluster.local/ready", "server", "envoy"),
        ($"http://{AuthorizationMesh.Services[^1]}.{AuthorizationMesh.Ns}.svc.cluster.local/ready", "server", "envoy"),
    ];
}
