using Waypoint.TestKit.Http;
using Waypoint.Xds;

namespace Waypoint.Translator.Tests.Acceptance;

/// <summary>
/// Routes come over RDS, so an HTTPRoute edit changes only its RouteConfiguration. This checks it on a real Envoy fed
/// the translator's own encodings (as the controller publishes them), with a long-lived connection through the HBONE
/// tunnel and the service's chain: the edit reaches Envoy as an RDS update only (main_internal is not sent again and no
/// listener or filter chain is modified or drained), the edited route applies, and the connection carries on.
/// </summary>
public sealed class MainInternalUpdateEnvoyTests
{
    private const string Route = """
        apiVersion: gateway.networking.k8s.io/v1
        kind: HTTPRoute
        metadata: {name: echo, namespace: app, generation: 1, creationTimestamp: "2026-01-01T00:00:00Z"}
        spec:
          parentRefs: [{group: "", kind: Service, name: echo, port: 80}]
          rules:
          - matches: [{path: {type: PathPrefix, value: /v1}}]
            backendRefs: [{name: echo, port: 80}]
        """;

    [Theory]
    [InlineData(XdsProtocol.StateOfTheWorld)]
    [InlineData(XdsProtocol.Delta)]
    public async Task Route_Edit_Is_An_Rds_Update_Only_And_A_Long_Lived_Connection_Survives(XdsProtocol protocol)
    {
        await using var echo = await EchoBackend.StartAsync("echo");
        var mesh = WaypointEnvoyHarness.Mesh(echo.EndPoint, Route);
        var (harness, before) = await WaypointEnvoyHarness.StartAsync(mesh, protocol, WaypointEnvoyHarness.EchoAuthority);
        await using var _ = harness;
        using var client = harness.CreateHttpClient(WaypointEnvoyHarness.EchoAuthority);

        Assert.Equal(System.Net.HttpStatusCode.OK, (await client.GetAsync("/v1/a")).StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await client.GetAsync("/v2/a")).StatusCode);
        Assert.Equal(1, harness.Connections);
        var listenerVersion = harness.Xds.Status.GetAckedVersion(harness.NodeId, XdsTypeUrls.Listener);
        var routeVersion = harness.Xds.Status.GetAckedVersion(harness.NodeId, XdsTypeUrls.RouteConfiguration);
        var stats = await ListenerManagerStatsAsync(harness);

        var after = await harness.ApplyAsync(WaypointEnvoyHarness.Mesh(echo.EndPoint, Route.Replace("value: /v1", "value: /v2", StringComparison.Ordinal)));

        // The translator reused main_internal as it was; only the service's RouteConfiguration changed.
        var key = new WaypointKey("app", "waypoint");
        Assert.Same(
            before.Waypoints[key].Encoded.Single(e => e.Name == "main_internal" && e.TypeUrl == XdsTypeUrls.Listener),
            after.Waypoints[key].Encoded.Single(e => e.Name == "main_internal" && e.TypeUrl == XdsTypeUrls.Listener));
        Assert.Equal(listenerVersion, harness.Xds.Status.GetAckedVersion(harness.NodeId, XdsTypeUrls.Listener));
        Assert.NotEqual(routeVersion, harness.Xds.Status.GetAckedVersion(harness.NodeId, XdsTypeUrls.RouteConfiguration));

        // The same connection (and HBONE tunnel) serves the edited route.
        await harness.Waypoint.WaitUntilAsync(
            async ct => (await client.GetAsync("/v2/a", ct)).StatusCode == System.Net.HttpStatusCode.OK,
            TimeSpan.FromSeconds(20),
            "the edited route to apply");
        var response = await client.GetAsync("/v1/a");
        Assert.Equal(System.Net.HttpStatusCode.NotFound, response.StatusCode);
        Assert.False(response.Headers.ConnectionClose ?? false, "the chain was drained: Envoy asked the client to close");
        Assert.Equal(1, harness.Connections);
        Assert.Equal(stats, await ListenerManagerStatsAsync(harness));
    }

    /// <summary>Listener updates (modified, in place) and drains (listeners, filter chains) so far.</summary>
    private static async Task<(long Modified, long InPlace, long ListenersDraining, long ChainsDraining)> ListenerManagerStatsAsync(WaypointEnvoyHarness harness)
    {
        var envoy = harness.Waypoint;
        return (
            await envoy.GetStatValueAsync("listener_manager.listener_modified"),
            await envoy.GetStatValueAsync("listener_manager.listener_in_place_updated"),
            await envoy.GetStatValueAsync("listener_manager.total_listeners_draining"),
            await envoy.GetStatValueAsync("listener_manager.total_filter_chains_draining"));
    }
}
