using System.Net;
using Waypoint.TestKit.Envoy;
using Waypoint.TestKit.Http;
using Waypoint.TestKit.Xds;
using Waypoint.Xds;

namespace Waypoint.Xds.Tests.Envoy;

/// <summary>Real Envoy against the real xDS server, over state-of-the-world and delta ADS.</summary>
public sealed class EnvoyAdsTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [Theory]
    [InlineData(XdsProtocol.StateOfTheWorld)]
    [InlineData(XdsProtocol.Delta)]
    public async Task Envoy_ReceivesListenerRouteClusterEndpoints_AndProxies(XdsProtocol protocol)
    {
        await using var echo = await EchoBackend.StartAsync("echo-a");
        await using var xds = await TestXdsServer.StartAsync();
        var snapshot = XdsTestResources.HttpProxy(("echo-a", echo.EndPoint));
        xds.Cache.SetSnapshot("gw.default", snapshot);

        await using var envoy = await xds.StartEnvoyAsync("gw.default", "pod-1", protocol);
        var port = await envoy.GetListenerPortAsync(XdsTestResources.ListenerName);

        var seen = await GetEchoAsync(port, "/hello");
        Assert.Equal("echo-a", seen.Backend);
        Assert.Equal("/hello", seen.Path);
        await xds.WaitForSnapshotAckedAsync("pod-1", "gw.default", Timeout);
        var stream = Assert.Single(xds.Status.GetStreams("pod-1"));
        Assert.Equal(protocol, stream.Protocol);
        Assert.Equal(snapshot.Clusters.Version, stream.Types.Single(t => t.TypeUrl == XdsTypeUrls.Cluster).LastAckedVersion);
        var dump = (await envoy.GetConfigDumpAsync()).ToJsonString();
        Assert.Contains("echo-a", dump, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(XdsProtocol.StateOfTheWorld)]
    [InlineData(XdsProtocol.Delta)]
    public async Task NewRouteAndCluster_AreLive_WithoutRestart_AndRemovedClusterDisappears(XdsProtocol protocol)
    {
        await using var echoA = await EchoBackend.StartAsync("echo-a");
        await using var echoB = await EchoBackend.StartAsync("echo-b");
        await using var xds = await TestXdsServer.StartAsync();
        xds.Cache.SetSnapshot("gw.default", XdsTestResources.HttpProxy(("echo-a", echoA.EndPoint)));
        await using var envoy = await xds.StartEnvoyAsync("gw.default", "pod-1", protocol);
        var port = await envoy.GetListenerPortAsync(XdsTestResources.ListenerName);
        Assert.Equal("echo-a", (await GetEchoAsync(port, "/b/x")).Backend);
        var uptimeBefore = await envoy.GetStatValueAsync("server.uptime");

        // A new route to a new cluster: Envoy must get the cluster and its endpoints before the route.
        xds.Cache.SetSnapshot("gw.default", XdsTestResources.HttpProxy(("echo-b", echoB.EndPoint), ("echo-a", echoA.EndPoint)));
        await envoy.WaitUntilAsync(async ct => (await TryGetBackendAsync(port, "/echo-b/x", ct)) == "echo-b", Timeout, "route /echo-b to reach echo-b");
        Assert.Equal("echo-b", (await GetEchoAsync(port, "/anything")).Backend);
        Assert.Equal(0, await envoy.GetStatValueAsync("cluster_manager.cds.update_rejected"));
        Assert.Equal(0, await envoy.GetStatValueAsync("http.http.rds.http-routes.update_rejected"));

        // Drop echo-a entirely: routes stop naming it first, then the cluster goes.
        var onlyB = XdsTestResources.HttpProxy(("echo-b", echoB.EndPoint));
        xds.Cache.SetSnapshot("gw.default", onlyB);
        await envoy.WaitUntilAsync(
            async ct => !(await envoy.GetClustersAsync(ct)).ToJsonString().Contains("\"echo-a\"", StringComparison.Ordinal),
            Timeout, "cluster echo-a to be removed");
        Assert.Equal("echo-b", (await GetEchoAsync(port, "/x")).Backend);
        Assert.False(envoy.HasExited);
        Assert.True(await envoy.GetStatValueAsync("server.uptime") >= uptimeBefore);
        await xds.WaitForSnapshotAckedAsync("pod-1", "gw.default", Timeout);
        Assert.Empty(xds.Status.GetNacks());
    }

    [Theory]
    [InlineData(XdsProtocol.StateOfTheWorld)]
    [InlineData(XdsProtocol.Delta)]
    public async Task InvalidRoute_IsNacked_ReasonCaptured_PreviousConfigKeepsServing(XdsProtocol protocol)
    {
        await using var echoA = await EchoBackend.StartAsync("echo-a");
        await using var xds = await TestXdsServer.StartAsync();
        var good = XdsTestResources.HttpProxy(("echo-a", echoA.EndPoint));
        xds.Cache.SetSnapshot("gw.default", good);
        await using var envoy = await xds.StartEnvoyAsync("gw.default", "pod-1", protocol);
        var port = await envoy.GetListenerPortAsync(XdsTestResources.ListenerName);
        await xds.WaitForSnapshotAckedAsync("pod-1", "gw.default", Timeout);

        var badRoutes = XdsTestResources.Routes(XdsTestResources.RouteName, ("/", "echo-a"));
        badRoutes.VirtualHosts[0].Routes.Insert(0, new global::Envoy.Config.Route.V3.Route
        {
            Match = new global::Envoy.Config.Route.V3.RouteMatch { SafeRegex = new global::Envoy.Type.Matcher.V3.RegexMatcher { Regex = "(unclosed" } },
            Route_ = new global::Envoy.Config.Route.V3.RouteAction { Cluster = "echo-a" },
        });
        var bad = XdsSnapshot.Create(good.Listeners.Resources.Concat([XdsResource.Create(XdsTypeUrls.RouteConfiguration, badRoutes.Name, badRoutes)])
            .Concat(good.Clusters.Resources).Concat(good.Endpoints.Resources));
        xds.Cache.SetSnapshot("gw.default", bad);

        var nack = await xds.WaitForNackAsync("pod-1", XdsTypeUrls.RouteConfiguration, Timeout);
        Assert.Equal(bad.Routes.Version, nack.Version);
        Assert.Equal("gw.default", nack.NodeGroup);
        Assert.Contains("unclosed", nack.ErrorMessage, StringComparison.Ordinal);
        Assert.Contains(xds.Logs.GetSnapshot(), r => r.Id.Name == "Nack");
        Assert.Equal("echo-a", (await GetEchoAsync(port, "/still-served")).Backend);
        Assert.Equal(good.Routes.Version, xds.Status.GetAckedVersion("pod-1", XdsTypeUrls.RouteConfiguration));
        var routePushes = RoutePushes(xds);

        // Another change elsewhere is delivered, and the rejected routes are not sent again.
        await using var echoC = await EchoBackend.StartAsync("echo-c");
        var withExtraCluster = XdsSnapshot.Create(bad.Listeners.Resources.Concat(bad.Routes.Resources)
            .Concat(bad.Clusters.Resources).Concat([XdsResource.Create(XdsTypeUrls.Cluster, "echo-c", XdsTestResources.EdsCluster("echo-c"))])
            .Concat(bad.Endpoints.Resources).Concat([XdsResource.Create(XdsTypeUrls.ClusterLoadAssignment, "echo-c", XdsTestResources.Endpoints("echo-c", echoC.EndPoint))]));
        xds.Cache.SetSnapshot("gw.default", withExtraCluster);
        await xds.WaitForAckAsync("pod-1", XdsTypeUrls.Cluster, withExtraCluster.Clusters.Version, Timeout);
        Assert.Equal(routePushes, RoutePushes(xds));
        Assert.Single(xds.Status.GetNacks());
        Assert.Equal(1, await envoy.GetStatValueAsync("http.http.rds.http-routes.update_rejected"));

        // A fixed version goes through.
        var fixedSnapshot = XdsTestResources.HttpProxy(("echo-c", echoC.EndPoint), ("echo-a", echoA.EndPoint));
        xds.Cache.SetSnapshot("gw.default", fixedSnapshot);
        await envoy.WaitUntilAsync(async ct => (await TryGetBackendAsync(port, "/", ct)) == "echo-c", Timeout, "fixed routes to serve echo-c");
    }

    [Theory]
    [InlineData(XdsProtocol.StateOfTheWorld)]
    [InlineData(XdsProtocol.Delta)]
    public async Task XdsServerRestart_TrafficKeepsFlowing_AndEnvoyResyncs(XdsProtocol protocol)
    {
        await using var echoA = await EchoBackend.StartAsync("echo-a");
        await using var echoB = await EchoBackend.StartAsync("echo-b");
        await using var xds = await TestXdsServer.StartAsync();
        xds.Cache.SetSnapshot("gw.default", XdsTestResources.HttpProxy(("echo-a", echoA.EndPoint)));
        await using var envoy = await xds.StartEnvoyAsync("gw.default", "pod-1", protocol);
        var port = await envoy.GetListenerPortAsync(XdsTestResources.ListenerName);
        await envoy.WaitUntilAsync(async ct => await envoy.GetStatValueAsync("control_plane.connected_state", ct) == 1, Timeout, "connected to the control plane");

        await xds.StopAsync();
        await envoy.WaitUntilAsync(async ct => await envoy.GetStatValueAsync("control_plane.connected_state", ct) == 0, Timeout, "disconnected from the control plane");
        Assert.Equal("echo-a", (await GetEchoAsync(port, "/while-down")).Backend);

        // The control plane comes back with newer config; Envoy reconnects and converges without a restart.
        xds.Cache.SetSnapshot("gw.default", XdsTestResources.HttpProxy(("echo-b", echoB.EndPoint), ("echo-a", echoA.EndPoint)));
        await xds.RestartAsync();
        await envoy.WaitUntilAsync(async ct => (await TryGetBackendAsync(port, "/", ct)) == "echo-b", TimeSpan.FromSeconds(30), "resync to the new routes");
        Assert.Equal(1, await envoy.GetStatValueAsync("control_plane.connected_state"));
        await xds.WaitForSnapshotAckedAsync("pod-1", "gw.default", Timeout);
        Assert.Single(xds.Status.GetStreams("pod-1"));
    }

    [Theory]
    [InlineData(XdsProtocol.StateOfTheWorld)]
    [InlineData(XdsProtocol.Delta)]
    public async Task TwoWaypoints_GetDifferentConfigs_ReplicasShareOne(XdsProtocol protocol)
    {
        await using var echoA = await EchoBackend.StartAsync("echo-a");
        await using var echoB = await EchoBackend.StartAsync("echo-b");
        await using var xds = await TestXdsServer.StartAsync();
        xds.Cache.SetSnapshot("gw-a.ns", XdsTestResources.HttpProxy(("echo-a", echoA.EndPoint)));
        xds.Cache.SetSnapshot("gw-b.ns", XdsTestResources.HttpProxy(("echo-b", echoB.EndPoint)));

        await using var envoyA1 = await xds.StartEnvoyAsync("gw-a.ns", "a-1", protocol);
        await using var envoyA2 = await xds.StartEnvoyAsync("gw-a.ns", "a-2", protocol);
        await using var envoyB = await xds.StartEnvoyAsync("gw-b.ns", "b-1", protocol);

        Assert.Equal("echo-a", (await GetEchoAsync(await envoyA1.GetListenerPortAsync(XdsTestResources.ListenerName), "/")).Backend);
        Assert.Equal("echo-a", (await GetEchoAsync(await envoyA2.GetListenerPortAsync(XdsTestResources.ListenerName), "/")).Backend);
        Assert.Equal("echo-b", (await GetEchoAsync(await envoyB.GetListenerPortAsync(XdsTestResources.ListenerName), "/")).Backend);
        var clustersA = (await envoyA1.GetConfigDumpSectionAsync("ClustersConfigDump"))!.ToJsonString();
        var clustersB = (await envoyB.GetConfigDumpSectionAsync("ClustersConfigDump"))!.ToJsonString();
        Assert.Contains("echo-a", clustersA, StringComparison.Ordinal);
        Assert.DoesNotContain("echo-b", clustersA, StringComparison.Ordinal);
        Assert.Contains("echo-b", clustersB, StringComparison.Ordinal);
        Assert.DoesNotContain("echo-a", clustersB, StringComparison.Ordinal);
        Assert.Equal(["gw-a.ns", "gw-a.ns", "gw-b.ns"], xds.Status.GetStreams().OrderBy(s => s.NodeId).Select(s => s.NodeGroup));
    }

    private static long RoutePushes(TestXdsServer xds) =>
        xds.Status.GetStreams("pod-1").Single().Types.Single(t => t.TypeUrl == XdsTypeUrls.RouteConfiguration).Pushes;

    private static async Task<string?> TryGetBackendAsync(int port, string path, CancellationToken cancellationToken)
    {
        using var client = new HttpClient { Timeout = Timeout };
        using var response = await client.GetAsync(new Uri($"http://127.0.0.1:{port}{path}"), cancellationToken);
        return response.IsSuccessStatusCode ? EchoResponse.Parse(await response.Content.ReadAsStringAsync(cancellationToken)).Backend : null;
    }

    internal static async Task<EchoResponse> GetEchoAsync(int port, string path)
    {
        using var client = new HttpClient { Timeout = Timeout };
        using var response = await client.GetAsync(new Uri($"http://127.0.0.1:{port}{path}"));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET {path}: {(int)response.StatusCode} {body}");
        return EchoResponse.Parse(body);
    }
}
