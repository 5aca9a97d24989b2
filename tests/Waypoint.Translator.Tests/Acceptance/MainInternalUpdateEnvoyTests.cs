using Waypoint.Benchmarks;
using Waypoint.TestKit.Envoy;
using Waypoint.TestKit.Xds;
using Waypoint.Xds;
using Waypoint.Xds.Bootstrap;

namespace Waypoint.Translator.Tests.Acceptance;

/// <summary>
/// Routes are inline in <c>main_internal</c>, so an HTTPRoute edit changes that listener. This checks, on a real Envoy
/// fed the translator's own encodings (as the controller publishes them), that such an edit is applied as an in-place
/// filter-chain update: the listener is not replaced, and only the edited service's chain is drained.
/// </summary>
public sealed class MainInternalUpdateEnvoyTests
{
    private const string Group = "main-internal.test";

    [Fact]
    public async Task Route_Edit_Updates_Main_Internal_In_Place_Draining_Only_The_Edited_Chain()
    {
        var translator = new WaypointTranslator(new TranslatorOptions { HboneBindAddress = "127.0.0.1", HboneBindPort = 0 });
        var mesh = TranslationSyntheticCluster.Create(5);
        var before = translator.Translate(mesh).Waypoints.Values.Single();
        var after = translator.Translate(TranslationSyntheticCluster.WithChangedRoute(mesh, 2, "/v2")).Waypoints.Values.Single();

        await using var sds = await TestSdsServer.StartAsync("spiffe://cluster.local/ns/app/sa/waypoint");
        await using var xds = await TestXdsServer.StartAsync();
        var nodeId = $"{Group}~{Guid.NewGuid():N}";
        Publish(xds, before);
        var bootstrap = xds.CreateBootstrapOptions(Group, nodeId) with { IncludeSdsCluster = true, SdsSocketPath = sds.SocketPath };
        await using var envoy = await EnvoyProcess.StartAsync(
            EnvoyBootstrapBuilder.RenderJson(EnvoyBootstrapBuilder.Build(bootstrap)),
            new EnvoyStartOptions { WaitForReady = false });
        await WaitUntilAckedAsync(xds, envoy, nodeId);
        await envoy.WaitUntilAsync(async ct => await envoy.GetStatValueAsync("listener_manager.workers_started", ct) == 1, TimeSpan.FromSeconds(20), "workers started");
        var modifiedBefore = await envoy.GetStatValueAsync("listener_manager.listener_modified");
        var inPlaceBefore = await envoy.GetStatValueAsync("listener_manager.listener_in_place_updated");

        Publish(xds, after);
        await WaitUntilAckedAsync(xds, envoy, nodeId);

        await envoy.WaitUntilAsync(
            async ct => await envoy.GetStatValueAsync("listener_manager.listener_in_place_updated", ct) == inPlaceBefore + 1,
            TimeSpan.FromSeconds(20),
            "main_internal updated in place");
        Assert.Equal(modifiedBefore + 1, await envoy.GetStatValueAsync("listener_manager.listener_modified"));
        Assert.Equal(0, await envoy.GetStatValueAsync("listener_manager.total_listeners_draining"));

        // Exactly one of the five services' chains changed, so exactly one filter chain is draining.
        await envoy.WaitUntilAsync(
            async ct => await envoy.GetStatValueAsync("listener_manager.total_filter_chains_draining", ct) == 1,
            TimeSpan.FromSeconds(20),
            "one filter chain draining");
    }

    /// <summary>Publishes as the controller does: the translator's encoded bytes, not a fresh encoding.</summary>
    private static void Publish(TestXdsServer xds, WaypointResources resources) =>
        xds.Cache.SetSnapshot(Group, XdsSnapshot.Create(resources.Encoded.Select(e => XdsResource.FromEncoded(e.TypeUrl, e.Name, e.Message, e.Bytes))));

    private static async Task WaitUntilAckedAsync(TestXdsServer xds, EnvoyProcess envoy, string nodeId)
    {
        await xds.WaitForSnapshotAckedAsync(nodeId, Group, TimeSpan.FromSeconds(30));
        var nack = xds.Status.GetLastNack(nodeId, XdsTypeUrls.Listener);
        Assert.True(nack is null, $"Envoy NACKed the listeners: {nack}\n{envoy.LogTail()}");
    }
}
