using System.Text.Json.Nodes;
using Envoy.Config.Cluster.V3;
using Envoy.Config.Endpoint.V3;
using Envoy.Config.Listener.V3;
using Envoy.Config.Route.V3;
using Google.Protobuf;
using Waypoint.TestKit.Envoy;
using Waypoint.TestKit.Xds;
using Waypoint.Xds;
using Waypoint.Xds.Bootstrap;

namespace Waypoint.Translator.Tests.Acceptance;

/// <summary>
/// Feeds every golden output (parsed back from <c>output.json</c>) to a real Envoy over ADS from the real xDS server,
/// and asserts that every resource is ACKed (no NACK), routes included (RDS), and that nothing is left warming.
/// </summary>
/// <remarks>
/// The only change made to a golden before loading: <c>connect_terminate</c> binds 127.0.0.1:0 instead of
/// 0.0.0.0:15008 (tests bind loopback only, and cases run in parallel). SDS secrets are served by
/// <see cref="TestSdsServer"/> through the bootstrap's <c>sds-grpc</c> cluster, exactly as the agent serves them.
/// </remarks>
public sealed class GoldenEnvoyAcceptanceTests
{
    private static readonly JsonParser s_parser = new(JsonParser.Settings.Default.WithTypeRegistry(EnvoyJson.TypeRegistry));

    public static TheoryData<string> Cases => new(GoldenFiles.Cases());

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Golden_Is_Accepted_By_Envoy(string name)
    {
        var golden = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(GoldenFiles.Root, name, "output.json")))!;
        var waypoints = golden["waypoints"]!.AsObject();
        if (waypoints.Count == 0)
        {
            return; // The case produces no xDS (e.g. only rejected Gateways): nothing to load.
        }

        await using var sds = await TestSdsServer.StartAsync("spiffe://cluster.local/ns/app/sa/waypoint");
        await using var xds = await TestXdsServer.StartAsync();
        const string group = "acceptance.test";
        var nodeId = $"{group}~{Guid.NewGuid():N}";

        EnvoyProcess? envoy = null;
        try
        {
            foreach (var (key, resources) in waypoints)
            {
                var snapshot = ToSnapshot(resources!);
                xds.Cache.SetSnapshot(group, snapshot);
                if (envoy is null)
                {
                    var bootstrap = xds.CreateBootstrapOptions(group, nodeId) with { IncludeSdsCluster = true, SdsSocketPath = sds.SocketPath };
                    envoy = await EnvoyProcess.StartAsync(
                        EnvoyBootstrapBuilder.RenderJson(EnvoyBootstrapBuilder.Build(bootstrap)),
                        new EnvoyStartOptions { WaitForReady = false });
                }

                foreach (var typeUrl in new[] { XdsTypeUrls.Cluster, XdsTypeUrls.ClusterLoadAssignment, XdsTypeUrls.Listener, XdsTypeUrls.RouteConfiguration })
                {
                    if (snapshot.GetResources(typeUrl).Count == 0)
                    {
                        continue; // Envoy only subscribes to EDS (RDS) when some cluster (HCM) uses it.
                    }

                    var version = snapshot.GetVersion(typeUrl);
                    await xds.WaitUntilAsync(
                        s => s.GetAckedVersion(nodeId, typeUrl) == version || s.GetLastNack(nodeId, typeUrl) is not null,
                        $"{name}/{key}: Envoy to ACK or NACK {typeUrl} version {version}",
                        TimeSpan.FromSeconds(30));
                    var nack = xds.Status.GetLastNack(nodeId, typeUrl);
                    Assert.True(nack is null, $"{name}/{key}: Envoy NACKed {typeUrl}: {nack}\n{envoy.LogTail()}");
                }

                await envoy.WaitUntilAsync(
                    async ct => AllActive(await envoy.GetConfigDumpAsync(includeEds: false, ct), snapshot),
                    TimeSpan.FromSeconds(20),
                    $"{name}/{key}: every listener, route configuration and cluster active (none warming)");
            }
        }
        finally
        {
            if (envoy is not null)
            {
                await envoy.DisposeAsync();
            }
        }
    }

    private static XdsSnapshot ToSnapshot(JsonNode resources)
    {
        var listeners = resources["listeners"]!.AsArray().Select(l => s_parser.Parse<Listener>(l!.ToJsonString())).ToList();
        foreach (var listener in listeners.Where(l => l.Address?.SocketAddress is not null))
        {
            listener.Address.SocketAddress.Address = "127.0.0.1";
            listener.Address.SocketAddress.PortValue = 0;
            listener.AdditionalAddresses.Clear();
        }

        return XdsSnapshot.Create(
            listeners,
            resources["routes"]!.AsArray().Select(r => s_parser.Parse<RouteConfiguration>(r!.ToJsonString())),
            resources["clusters"]!.AsArray().Select(c => s_parser.Parse<Cluster>(c!.ToJsonString())),
            resources["endpoints"]!.AsArray().Select(e => s_parser.Parse<ClusterLoadAssignment>(e!.ToJsonString())));
    }

    /// <summary>Every snapshot listener is in dynamic_listeners with an active state and no warming state; every cluster is active.</summary>
    private static bool AllActive(JsonNode dump, XdsSnapshot snapshot)
    {
        var configs = dump["configs"]!.AsArray();
        var listenersDump = configs.First(c => c!["@type"]!.GetValue<string>().EndsWith("ListenersConfigDump", StringComparison.Ordinal))!;
        var clustersDump = configs.First(c => c!["@type"]!.GetValue<string>().EndsWith("ClustersConfigDump", StringComparison.Ordinal))!;
        var routesDump = configs.FirstOrDefault(c => c!["@type"]!.GetValue<string>().EndsWith(".RoutesConfigDump", StringComparison.Ordinal));

        var wantedListeners = snapshot.Listeners.Resources.Select(r => r.Name).ToHashSet(StringComparer.Ordinal);
        var activeListeners = (listenersDump["dynamic_listeners"]?.AsArray() ?? [])
            .Where(l => l!["active_state"] is not null && l["warming_state"] is null && l["error_state"] is null)
            .Select(l => l!["name"]!.GetValue<string>())
            .ToHashSet(StringComparer.Ordinal);
        var wantedClusters = snapshot.Clusters.Resources.Select(r => r.Name).ToHashSet(StringComparer.Ordinal);
        var activeClusters = (clustersDump["dynamic_active_clusters"]?.AsArray() ?? [])
            .Select(c => c!["cluster"]!["name"]!.GetValue<string>())
            .ToHashSet(StringComparer.Ordinal);
        var warmingClusters = clustersDump["dynamic_warming_clusters"]?.AsArray().Count ?? 0;
        var wantedRoutes = snapshot.Routes.Resources.Select(r => r.Name).ToHashSet(StringComparer.Ordinal);
        var loadedRoutes = (routesDump?["dynamic_route_configs"]?.AsArray() ?? [])
            .Select(r => r!["route_config"]!["name"]!.GetValue<string>())
            .ToHashSet(StringComparer.Ordinal);

        return wantedListeners.IsSubsetOf(activeListeners) && activeListeners.IsSubsetOf(wantedListeners)
            && wantedClusters.IsSubsetOf(activeClusters) && warmingClusters == 0
            && wantedRoutes.SetEquals(loadedRoutes);
    }
}
