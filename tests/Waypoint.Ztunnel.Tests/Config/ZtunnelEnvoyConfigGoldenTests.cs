using Waypoint.Ztunnel.Config;
using Waypoint.Ztunnel.Mesh;
using Waypoint.Ztunnel.Tests.Mesh;

namespace Waypoint.Ztunnel.Tests.Config;

/// <summary>
/// The node Envoy's listeners and clusters for the fixed <see cref="TestMesh"/>, against Golden/*.json.
/// Regenerate with <c>WAYPOINT_UPDATE_GOLDEN=1 dotnet test tests/Waypoint.Ztunnel.Tests --filter ZtunnelEnvoyConfigGoldenTests</c>.
/// </summary>
public sealed class ZtunnelEnvoyConfigGoldenTests
{
    private static readonly ZtunnelPaths s_paths = new("/run/ztunnel");

    [Fact]
    public void The_config_for_a_fixed_mesh_view_matches_the_golden_files()
    {
        var model = NodeMesh.Build(TestMesh.View(), TestMesh.PodNetworks(), TestMesh.AmbientNamespaces, TestMesh.OptedOut, TestMesh.NodeName);
        var documents = ZtunnelEnvoyConfig.Build(model, s_paths);
        Compare("listeners.json", documents.Listeners);
        Compare("clusters.json", documents.Clusters);
        Compare("bootstrap.json", ZtunnelEnvoyConfig.Bootstrap("ztunnel~10.244.0.2~ztunnel-node-1.istio-system~istio-system.svc.cluster.local", s_paths, 15000));
    }

    [Fact]
    public void The_same_model_gives_the_same_bytes_and_a_label_change_only_moves_the_bound_listeners()
    {
        var model = NodeMesh.Build(TestMesh.View(), TestMesh.PodNetworks(), TestMesh.AmbientNamespaces, TestMesh.OptedOut, TestMesh.NodeName);
        Assert.Equal(ZtunnelEnvoyConfig.Build(model, s_paths), ZtunnelEnvoyConfig.Build(model, s_paths));

        var unbound = NodeMesh.Build(TestMesh.View(s => { s.Waypoint = null; return s; }), TestMesh.PodNetworks(), TestMesh.AmbientNamespaces, TestMesh.OptedOut, TestMesh.NodeName);
        var bound = ZtunnelEnvoyConfig.Build(model, s_paths).Listeners;
        var direct = ZtunnelEnvoyConfig.Build(unbound, s_paths).Listeners;
        Assert.Contains("\"hostname\": \"10.96.0.30:80\"", bound, StringComparison.Ordinal);
        Assert.Contains("waypoint|demo~client|10.244.1.9:15008", bound, StringComparison.Ordinal);
        Assert.DoesNotContain("10.96.0.30:80\"", direct, StringComparison.Ordinal);
        Assert.Contains("outbound|demo~client|demo/bound.demo.svc.cluster.local:80", direct, StringComparison.Ordinal);
    }

    [Fact]
    public void A_tunnel_to_a_waypoint_carries_the_source_pods_baggage_and_a_direct_one_none()
    {
        var model = NodeMesh.Build(TestMesh.View(), TestMesh.PodNetworks(), TestMesh.AmbientNamespaces, TestMesh.OptedOut, TestMesh.NodeName);
        var listeners = System.Text.Json.Nodes.JsonNode.Parse(ZtunnelEnvoyConfig.Build(model, s_paths).Listeners)!["resources"]!.AsArray();
        System.Text.Json.Nodes.JsonNode Tunneling(string pod, string service) =>
            listeners.Single(l => l!["name"]!.GetValue<string>() == $"outbound|demo/{pod}|{service}:80")!["filter_chains"]![0]!["filters"]![0]!["typed_config"]!;

        var header = Assert.Single(Tunneling("client", TestMesh.Bound)["tunneling_config"]!["headers_to_add"]!.AsArray())!["header"]!;
        Assert.Equal("baggage", header["key"]!.GetValue<string>());
        Assert.Equal("k8s.cluster.name=Kubernetes,k8s.namespace.name=demo,k8s.deployment.name=sleep,service.name=sleep,service.version=v1", header["value"]!.GetValue<string>());
        var echoPod = Assert.Single(Tunneling("echo-a", TestMesh.Bound)["tunneling_config"]!["headers_to_add"]!.AsArray())!["header"]!;
        Assert.Equal("k8s.namespace.name=demo", echoPod["value"]!.GetValue<string>());
        // Direct: the per-ServiceAccount originate listener tunnels, without the pod's baggage.
        Assert.Null(Tunneling("client", TestMesh.Echo)["tunneling_config"]);
    }

    private static void Compare(string name, string actual)
    {
        var path = Path.Combine(SourceDirectory(), "Golden", name);
        if (Environment.GetEnvironmentVariable("WAYPOINT_UPDATE_GOLDEN") == "1")
        {
            File.WriteAllText(path, actual + "\n");
        }

        Assert.True(File.Exists(path), $"{path} is missing; run with WAYPOINT_UPDATE_GOLDEN=1 to create it.");
        Assert.Equal(File.ReadAllText(path).TrimEnd('\n'), actual);
    }

    private static string SourceDirectory([System.Runtime.CompilerServices.CallerFilePath] string file = "") => Path.GetDirectoryName(Path.GetDirectoryName(file)!)!;
}
