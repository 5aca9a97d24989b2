using Envoy.Config.Cluster.V3;
using Grpc.Core;
using Waypoint.TestKit.Xds;

namespace Waypoint.Xds.Tests.Protocol;

public sealed class DeltaProtocolTests : ProtocolTestBase
{
    [Fact]
    public async Task Wildcard_ReceivesAll_ThenOnlyChanges_AndRemovedResourcesForDeletions()
    {
        Xds.Cache.SetSnapshot(Group, Snapshot("a", "b"));
        await using var client = Delta();
        await client.SubscribeAsync(XdsTypeUrls.Cluster);
        var first = await client.ReceiveAsync(Timeout);
        Assert.Equal(["a", "b"], first.Resources.Select(r => r.Name).Order());
        Assert.All(first.Resources, r => Assert.Equal(r.Name, r.Resource_.Unpack<Cluster>().Name));
        Assert.Empty(first.RemovedResources);
        await client.AckAsync(first);

        var next = Snapshot("b", "c");
        Xds.Cache.SetSnapshot(Group, next);
        var second = await client.ReceiveAsync(Timeout);
        Assert.Equal(["c"], second.Resources.Select(r => r.Name));
        Assert.Equal(["a"], second.RemovedResources);
        Assert.Equal(next.Clusters.Version, second.SystemVersionInfo);
        await client.AckAsync(second);
        await Xds.WaitForAckAsync("node-1", XdsTypeUrls.Cluster, next.Clusters.Version);
    }

    [Fact]
    public async Task ExplicitSubscribe_Unsubscribe_AndMissingNamesReportedAbsent()
    {
        Xds.Cache.SetSnapshot(Group, Snapshot("a", "b", "c"));
        await using var client = Delta();
        await client.SubscribeAsync(XdsTypeUrls.ClusterLoadAssignment, ["a", "missing"]);
        var first = await client.ReceiveAsync(Timeout);
        Assert.Equal(["a"], first.Resources.Select(r => r.Name));
        Assert.Equal(["missing"], first.RemovedResources);
        await client.AckAsync(first);

        await client.SubscribeAsync(XdsTypeUrls.ClusterLoadAssignment, ["c"], ["a"], nonce: first.Nonce);
        var second = await client.ReceiveAsync(Timeout);
        Assert.Equal(["c"], second.Resources.Select(r => r.Name));
        Assert.Empty(second.RemovedResources);
        await client.AckAsync(second);

        // "a" is no longer subscribed: a change to it is not sent; a change to "c" is.
        var changed = WithEndpointPort(WithEndpointPort(Snapshot("a", "b", "c"), "a", 30001), "c", 30003);
        Xds.Cache.SetSnapshot(Group, changed);
        var third = await client.ReceiveAsync(Timeout);
        Assert.Equal(["c"], third.Resources.Select(r => r.Name));
    }

    [Fact]
    public async Task Reconnect_WithInitialResourceVersions_SendsOnlyWhatDiffers()
    {
        var snapshot = Snapshot("a", "b", "c");
        Xds.Cache.SetSnapshot(Group, snapshot);
        var held = snapshot.Clusters.Resources.ToDictionary(r => r.Name, r => r.Version);
        held["b"] = "outdated";
        held["gone"] = "whatever";
        await using var client = Delta();
        await client.SubscribeAsync(XdsTypeUrls.Cluster, initialVersions: held);
        var response = await client.ReceiveAsync(Timeout);
        Assert.Equal(["b"], response.Resources.Select(r => r.Name));
        Assert.Equal(["gone"], response.RemovedResources);
    }

    [Fact]
    public async Task Nack_IsRecorded_AndNotRepushed_UntilANewVersion()
    {
        Xds.Cache.SetSnapshot(Group, Snapshot("a"));
        await using var client = Delta();
        await client.SubscribeAsync(XdsTypeUrls.Cluster);
        await client.AckAsync(await client.ReceiveAsync(Timeout));

        var rejected = Snapshot("a", "b");
        Xds.Cache.SetSnapshot(Group, rejected);
        var bad = await client.ReceiveAsync(Timeout);
        await client.NackAsync(bad, "b is invalid");
        var nack = await Xds.WaitForNackAsync("node-1", XdsTypeUrls.Cluster);
        Assert.Equal((rejected.Clusters.Version, "b is invalid"), (nack.Version, nack.ErrorMessage));

        // A request after the NACK (Envoy re-sends its subscription) does not bring the rejected version back.
        await client.SubscribeAsync(XdsTypeUrls.Cluster, nonce: bad.Nonce);
        var fixedSnapshot = Snapshot("a", "c");
        Xds.Cache.SetSnapshot(Group, fixedSnapshot);
        var next = await client.ReceiveAsync(Timeout);
        Assert.Equal(fixedSnapshot.Clusters.Version, next.SystemVersionInfo);
        Assert.Equal(["c"], next.Resources.Select(r => r.Name));
        Assert.Empty(next.RemovedResources);
    }

    [Fact]
    public async Task GarbageNonce_And_UnknownType_AreInvalidArgument()
    {
        Xds.Cache.SetSnapshot(Group, Snapshot("a"));
        await using var garbage = Delta("garbage");
        await garbage.SubscribeAsync(XdsTypeUrls.Cluster, nonce: "not-a-nonce");
        Assert.Equal(StatusCode.InvalidArgument, (await Assert.ThrowsAsync<RpcException>(() => garbage.ReceiveAsync(Timeout))).StatusCode);

        await using var unknown = Delta("unknown");
        await unknown.SubscribeAsync("type.googleapis.com/google.protobuf.Empty");
        Assert.Equal(StatusCode.InvalidArgument, (await Assert.ThrowsAsync<RpcException>(() => unknown.ReceiveAsync(Timeout))).StatusCode);

        await using var healthy = Delta("healthy");
        await healthy.SubscribeAsync(XdsTypeUrls.Cluster);
        Assert.Single((await healthy.ReceiveAsync(Timeout)).Resources);
    }

    [Fact]
    public async Task ClusterRemoval_WaitsUntilRoutesNoLongerNeedIt()
    {
        var before = Snapshot("a", "b");
        Xds.Cache.SetSnapshot(Group, before);
        await using var client = Delta();
        await client.SubscribeAsync(XdsTypeUrls.Cluster);
        var cds = await client.ReceiveAsync(Timeout);
        await client.SubscribeAsync(XdsTypeUrls.ClusterLoadAssignment, ["a", "b"]);
        var eds = await client.ReceiveAsync(Timeout);
        Assert.Equal(XdsTypeUrls.ClusterLoadAssignment, eds.TypeUrl);
        await client.AckAsync(eds);
        await client.AckAsync(cds);
        await client.SubscribeAsync(XdsTypeUrls.RouteConfiguration, [XdsTestResources.RouteName]);
        await client.AckAsync(await client.ReceiveAsync(Timeout));
        await Xds.WaitForSnapshotAckedAsync("node-1", Group);

        // Routes change first; cluster "a" and its endpoints stay until then.
        Xds.Cache.SetSnapshot(Group, XdsTestResources.HttpProxy(("b", Backend(10001))));
        var routes = await client.ReceiveAsync(Timeout);
        Assert.Equal(XdsTypeUrls.RouteConfiguration, routes.TypeUrl);
        await client.AckAsync(routes);
        var clusters = await client.ReceiveAsync(Timeout);
        Assert.Equal(XdsTypeUrls.Cluster, clusters.TypeUrl);
        Assert.Equal(["a"], clusters.RemovedResources);
        await client.AckAsync(clusters);

        // Only now do the endpoints of "a" go; Envoy drops its subscription with the cluster (a stale nonce:
        // the delta subscription change still applies).
        var endpoints = await client.ReceiveAsync(Timeout);
        Assert.Equal((XdsTypeUrls.ClusterLoadAssignment, "a"), (endpoints.TypeUrl, Assert.Single(endpoints.RemovedResources)));
        await client.SubscribeAsync(XdsTypeUrls.ClusterLoadAssignment, unsubscribe: ["a"], nonce: eds.Nonce);
        await client.AckAsync(endpoints);
        await Xds.WaitForSnapshotAckedAsync("node-1", Group);
        Assert.Equal(["b"], Xds.Status.GetStreams("node-1").Single().Types.Single(t => t.TypeUrl == XdsTypeUrls.ClusterLoadAssignment).ResourceNames);
    }

    [Fact]
    public async Task StaleNonce_StillAppliesDeltaSubscriptionChanges()
    {
        Xds.Cache.SetSnapshot(Group, Snapshot("a", "b"));
        await using var client = Delta();
        await client.SubscribeAsync(XdsTypeUrls.ClusterLoadAssignment, ["a"]);
        var first = await client.ReceiveAsync(Timeout);
        await client.AckAsync(first);
        Xds.Cache.SetSnapshot(Group, WithEndpointPort(Snapshot("a", "b"), "a", 40000));
        var second = await client.ReceiveAsync(Timeout);

        await client.SubscribeAsync(XdsTypeUrls.ClusterLoadAssignment, ["b"], nonce: first.Nonce);
        await client.AckAsync(second);
        var third = await client.ReceiveAsync(Timeout);
        Assert.Equal(["b"], third.Resources.Select(r => r.Name));
    }
}
