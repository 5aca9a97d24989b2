using System.Diagnostics.Metrics;
using Envoy.Config.Cluster.V3;
using Envoy.Config.Listener.V3;
using Envoy.Service.Discovery.V3;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Waypoint.TestKit.Xds;

namespace Waypoint.Xds.Tests.Protocol;

public sealed class SotwProtocolTests : ProtocolTestBase
{
    [Fact]
    public async Task Stream_WaitsForSnapshot_ThenSendsAllClusters_WithContentVersionAndNonce()
    {
        await using var client = Sotw();
        await client.RequestAsync(XdsTypeUrls.Cluster);
        await Xds.WaitUntilAsync(s => s.GetStreams("node-1").Count == 1, "stream registered");

        var snapshot = Snapshot("a", "b");
        Xds.Cache.SetSnapshot(Group, snapshot);
        var response = await client.ReceiveAsync(Timeout);

        Assert.Equal(XdsTypeUrls.Cluster, response.TypeUrl);
        Assert.Equal(snapshot.Clusters.Version, response.VersionInfo);
        Assert.NotEmpty(response.Nonce);
        Assert.Equal(["a", "b"], response.Resources.Select(r => r.Unpack<Cluster>().Name));
        await client.AckAsync(response);
        await Xds.WaitForAckAsync("node-1", XdsTypeUrls.Cluster, snapshot.Clusters.Version);
    }

    [Fact]
    public async Task UnchangedContent_IsNotPushed_ButTheNextRealChangeIs()
    {
        await using var client = Sotw();
        var first = Snapshot("a");
        Xds.Cache.SetSnapshot(Group, first);
        await client.RequestAsync(XdsTypeUrls.Cluster);
        await client.RequestAsync(XdsTypeUrls.Listener);
        var cds = await client.ReceiveAsync(Timeout);
        await client.AckAsync(cds);
        await client.RequestAsync(XdsTypeUrls.ClusterLoadAssignment, ["a"]);
        var eds = await client.ReceiveAsync(Timeout);
        Assert.Equal(XdsTypeUrls.ClusterLoadAssignment, eds.TypeUrl);
        await client.AckAsync(eds, ["a"]);
        var lds = await client.ReceiveAsync(Timeout);
        Assert.Equal(XdsTypeUrls.Listener, lds.TypeUrl);
        await client.AckAsync(lds);
        await Xds.WaitForAckAsync("node-1", XdsTypeUrls.Listener, first.Listeners.Version);

        // Same content, new objects: same versions, nothing to send.
        Xds.Cache.SetSnapshot(Group, Snapshot("a"));
        Assert.Equal(first.Version, Snapshot("a").Version);

        // Only endpoints change: the next message is EDS, not a repeat of CDS or LDS.
        var moved = WithEndpointPort(first, "a", 20000);
        Xds.Cache.SetSnapshot(Group, moved);
        var next = await client.ReceiveAsync(Timeout);
        Assert.Equal(XdsTypeUrls.ClusterLoadAssignment, next.TypeUrl);
        Assert.Equal(moved.Endpoints.Version, next.VersionInfo);
        await client.AckAsync(next, ["a"]);
        await Xds.WaitForAckAsync("node-1", XdsTypeUrls.ClusterLoadAssignment, moved.Endpoints.Version);
        var status = Xds.Status.GetStreams("node-1").Single();
        Assert.Equal(1, status.Types.Single(t => t.TypeUrl == XdsTypeUrls.Cluster).Pushes);
        Assert.Equal(1, status.Types.Single(t => t.TypeUrl == XdsTypeUrls.Listener).Pushes);
        Assert.Equal(2, status.Types.Single(t => t.TypeUrl == XdsTypeUrls.ClusterLoadAssignment).Pushes);
    }

    [Fact]
    public async Task Nack_IsRecordedLoggedCounted_AndTheRejectedVersionIsNotRepushed()
    {
        using var nacks = new MetricCollector<long>(Xds.Services.GetRequiredService<IMeterFactory>(), "Waypoint.Xds", "pilot_total_xds_rejects");
        await using var client = Sotw();
        var good = Snapshot("a");
        Xds.Cache.SetSnapshot(Group, good);
        await client.RequestAsync(XdsTypeUrls.Cluster);
        var first = await client.ReceiveAsync(Timeout);
        await client.AckAsync(first);

        var rejected = Snapshot("a", "b");
        Xds.Cache.SetSnapshot(Group, rejected);
        var second = await client.ReceiveAsync(Timeout);
        Assert.Equal(rejected.Clusters.Version, second.VersionInfo);
        await client.NackAsync(second, "cluster b: invalid", lastGoodVersion: first.VersionInfo);

        var nack = await Xds.WaitForNackAsync("node-1", XdsTypeUrls.Cluster);
        Assert.Equal(("node-1", Group, rejected.Clusters.Version, second.Nonce, "cluster b: invalid"),
            (nack.NodeId, nack.NodeGroup, nack.Version, nack.Nonce, nack.ErrorMessage));
        Assert.Equal(first.VersionInfo, Xds.Status.GetAckedVersion("node-1", XdsTypeUrls.Cluster));
        Assert.Contains(Xds.Logs.GetSnapshot(), r => r.Id.Name == "Nack" && r.Message.Contains("cluster b: invalid", StringComparison.Ordinal));
        Assert.Equal(1, nacks.GetMeasurementSnapshot().EvaluateAsCounter());

        // Re-publishing the same rejected content sends nothing; Envoy re-requesting (stale-free) does not either.
        Xds.Cache.SetSnapshot(Group, Snapshot("a", "b"));
        await client.RequestAsync(XdsTypeUrls.Cluster, version: first.VersionInfo, nonce: second.Nonce);

        // A newer version is sent.
        var fixedSnapshot = Snapshot("a", "c");
        Xds.Cache.SetSnapshot(Group, fixedSnapshot);
        var third = await client.ReceiveAsync(Timeout);
        Assert.Equal(fixedSnapshot.Clusters.Version, third.VersionInfo);
        Assert.Equal(3, Xds.Status.GetStreams("node-1").Single().Types.Single().Pushes);
    }

    [Fact]
    public async Task UnknownTypeUrl_FailsThatStreamOnly()
    {
        Xds.Cache.SetSnapshot(Group, Snapshot("a"));
        await using var healthy = Sotw("healthy");
        await using var broken = Sotw("broken");
        await broken.RequestAsync("type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig");
        var error = await Assert.ThrowsAsync<RpcException>(() => broken.ReceiveAsync(Timeout));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("unknown type URL", error.Status.Detail, StringComparison.Ordinal);

        await healthy.RequestAsync(XdsTypeUrls.Cluster);
        Assert.Equal(XdsTypeUrls.Cluster, (await healthy.ReceiveAsync(Timeout)).TypeUrl);
    }

    [Fact]
    public async Task FirstRequestWithoutNode_IsInvalidArgument()
    {
        await using var client = Sotw();
        await client.SendAsync(new DiscoveryRequest { TypeUrl = XdsTypeUrls.Cluster }, withoutNode: true);
        var error = await Assert.ThrowsAsync<RpcException>(() => client.ReceiveAsync(Timeout));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("node", error.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NodeWithoutCluster_IsInvalidArgument()
    {
        await using var client = Sotw("pod", group: string.Empty);
        await client.RequestAsync(XdsTypeUrls.Cluster);
        var error = await Assert.ThrowsAsync<RpcException>(() => client.ReceiveAsync(Timeout));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("node.cluster", error.Status.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("garbage")]
    [InlineData("999")]
    [InlineData("0")]
    public async Task NonceNeverSent_IsInvalidArgument_OtherStreamsUnaffected(string nonce)
    {
        Xds.Cache.SetSnapshot(Group, Snapshot("a"));
        await using var other = Sotw("other");
        await other.RequestAsync(XdsTypeUrls.Cluster);
        var otherFirst = await other.ReceiveAsync(Timeout);

        await using var client = Sotw();
        await client.RequestAsync(XdsTypeUrls.Cluster);
        await client.ReceiveAsync(Timeout);
        await client.RequestAsync(XdsTypeUrls.Cluster, nonce: nonce);
        var error = await Assert.ThrowsAsync<RpcException>(() => client.ReceiveAsync(Timeout));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("never sent", error.Status.Detail, StringComparison.Ordinal);

        await other.AckAsync(otherFirst);
        var next = Snapshot("a", "b");
        Xds.Cache.SetSnapshot(Group, next);
        Assert.Equal(next.Clusters.Version, (await other.ReceiveAsync(Timeout)).VersionInfo);
    }

    [Fact]
    public async Task StaleNonce_IsIgnored_NotAnError()
    {
        await using var client = Sotw();
        Xds.Cache.SetSnapshot(Group, Snapshot("a"));
        await client.RequestAsync(XdsTypeUrls.Cluster);
        var first = await client.ReceiveAsync(Timeout);
        var second = Snapshot("a", "b");
        await client.AckAsync(first);
        await Xds.WaitForAckAsync("node-1", XdsTypeUrls.Cluster, first.VersionInfo);
        Xds.Cache.SetSnapshot(Group, second);
        var response = await client.ReceiveAsync(Timeout);

        // A request answering the superseded response: no error, no ACK of anything, still pending.
        await client.NackAsync(first, "late complaint about an old response", lastGoodVersion: first.VersionInfo);
        await client.AckAsync(response);
        await Xds.WaitForAckAsync("node-1", XdsTypeUrls.Cluster, second.Clusters.Version);
        Assert.Contains(Xds.Logs.GetSnapshot(), r => r.Id.Name == "StaleNonce");
        Assert.Empty(Xds.Status.GetNacks());
    }

    [Fact]
    public async Task Push_IsOrdered_ClustersThenEndpoints_BeforeListenersThenRoutes()
    {
        await using var client = Sotw();
        var snapshot = Snapshot("a");
        Xds.Cache.SetSnapshot(Group, snapshot);

        // Envoy's start: CDS and LDS wildcard.
        await client.RequestAsync(XdsTypeUrls.Cluster);
        await client.RequestAsync(XdsTypeUrls.Listener);
        var cds = await client.ReceiveAsync(Timeout);
        Assert.Equal(XdsTypeUrls.Cluster, cds.TypeUrl);

        // Listeners wait until the clusters are ACKed and their endpoints delivered.
        await client.AckAsync(cds);
        await client.RequestAsync(XdsTypeUrls.ClusterLoadAssignment, ["a"]);
        var eds = await client.ReceiveAsync(Timeout);
        Assert.Equal(XdsTypeUrls.ClusterLoadAssignment, eds.TypeUrl);
        await client.AckAsync(eds, ["a"]);
        var lds = await client.ReceiveAsync(Timeout);
        Assert.Equal(XdsTypeUrls.Listener, lds.TypeUrl);
        await client.AckAsync(lds);
        await client.RequestAsync(XdsTypeUrls.RouteConfiguration, [XdsTestResources.RouteName]);
        var rds = await client.ReceiveAsync(Timeout);
        Assert.Equal(XdsTypeUrls.RouteConfiguration, rds.TypeUrl);
        await client.AckAsync(rds, [XdsTestResources.RouteName]);
        await Xds.WaitForSnapshotAckedAsync("node-1", Group);

        // A change touching routes and a new cluster: CDS, then (after EDS for it) RDS.
        var grown = Snapshot("b", "a");
        Xds.Cache.SetSnapshot(Group, grown);
        var cds2 = await client.ReceiveAsync(Timeout);
        Assert.Equal(XdsTypeUrls.Cluster, cds2.TypeUrl);
        await client.AckAsync(cds2);

        // Endpoints wait for Envoy to ask for the new cluster's endpoints.
        await client.RequestAsync(XdsTypeUrls.ClusterLoadAssignment, ["a", "b"], eds.VersionInfo, eds.Nonce);
        var eds2 = await client.ReceiveAsync(Timeout);
        Assert.Equal(XdsTypeUrls.ClusterLoadAssignment, eds2.TypeUrl);
        Assert.Equal(["a", "b"], eds2.Resources.Select(r => r.Unpack<global::Envoy.Config.Endpoint.V3.ClusterLoadAssignment>().ClusterName).Order());
        await client.AckAsync(eds2, ["a", "b"]);
        var rds2 = await client.ReceiveAsync(Timeout);
        Assert.Equal(XdsTypeUrls.RouteConfiguration, rds2.TypeUrl);
        Assert.Equal(grown.Routes.Version, rds2.VersionInfo);
    }

    [Fact]
    public async Task RemovedCluster_IsWithdrawnOnlyAfterRoutesStopUsingIt()
    {
        await using var client = Sotw();
        var before = Snapshot("a", "b");
        Xds.Cache.SetSnapshot(Group, before);
        await client.RequestAsync(XdsTypeUrls.Cluster);
        var cds = await client.ReceiveAsync(Timeout);
        await client.AckAsync(cds);
        await client.RequestAsync(XdsTypeUrls.ClusterLoadAssignment, ["a", "b"]);
        var eds = await client.ReceiveAsync(Timeout);
        await client.AckAsync(eds, ["a", "b"]);
        await client.RequestAsync(XdsTypeUrls.RouteConfiguration, [XdsTestResources.RouteName]);
        var rds = await client.ReceiveAsync(Timeout);
        await client.AckAsync(rds, [XdsTestResources.RouteName]);
        await Xds.WaitForAckAsync("node-1", XdsTypeUrls.RouteConfiguration, before.Routes.Version);

        var after = Snapshot("b");
        Xds.Cache.SetSnapshot(Group, after);

        // Clusters still hold "a" while the routes that name it are replaced.
        var keep = await client.ReceiveAsync(Timeout);
        Assert.Equal(XdsTypeUrls.Cluster, keep.TypeUrl);
        Assert.Equal(["a", "b"], keep.Resources.Select(r => r.Unpack<Cluster>().Name).Order());
        await client.AckAsync(keep);
        var eds2 = await client.ReceiveAsync(Timeout);
        Assert.Equal(XdsTypeUrls.ClusterLoadAssignment, eds2.TypeUrl);
        await client.AckAsync(eds2, ["a", "b"]);
        var rds2 = await client.ReceiveAsync(Timeout);
        Assert.Equal(XdsTypeUrls.RouteConfiguration, rds2.TypeUrl);
        Assert.Equal(after.Routes.Version, rds2.VersionInfo);
        await client.AckAsync(rds2, [XdsTestResources.RouteName]);

        var final = await client.ReceiveAsync(Timeout);
        Assert.Equal(XdsTypeUrls.Cluster, final.TypeUrl);
        Assert.Equal(after.Clusters.Version, final.VersionInfo);
        Assert.Equal(["b"], final.Resources.Select(r => r.Unpack<Cluster>().Name));
    }

    [Fact]
    public async Task SubscriptionChange_IsAnswered_WithOnlyTheNamedResources()
    {
        await using var client = Sotw();
        Xds.Cache.SetSnapshot(Group, Snapshot("a", "b", "c"));
        await client.RequestAsync(XdsTypeUrls.ClusterLoadAssignment, ["a"]);
        var first = await client.ReceiveAsync(Timeout);
        Assert.Equal(["a"], first.Resources.Select(r => r.Unpack<global::Envoy.Config.Endpoint.V3.ClusterLoadAssignment>().ClusterName));
        await client.AckAsync(first, ["a"]);

        await client.RequestAsync(XdsTypeUrls.ClusterLoadAssignment, ["a", "c", "missing"], first.VersionInfo, first.Nonce);
        var second = await client.ReceiveAsync(Timeout);
        Assert.Equal(first.VersionInfo, second.VersionInfo);
        Assert.Equal(["a", "c"], second.Resources.Select(r => r.Unpack<global::Envoy.Config.Endpoint.V3.ClusterLoadAssignment>().ClusterName));
    }

    [Fact]
    public async Task Reconnect_WithCurrentVersion_GetsNoResend_WithOlderVersion_GetsTheSnapshot()
    {
        var snapshot = Snapshot("a");
        Xds.Cache.SetSnapshot(Group, snapshot);
        await using var client = Sotw();
        await client.RequestAsync(XdsTypeUrls.Listener, version: snapshot.Listeners.Version);
        await client.RequestAsync(XdsTypeUrls.Cluster, version: "stale-version");
        var response = await client.ReceiveAsync(Timeout);
        Assert.Equal(XdsTypeUrls.Cluster, response.TypeUrl);
        await client.AckAsync(response);
        await Xds.WaitForAckAsync("node-1", XdsTypeUrls.Cluster, snapshot.Clusters.Version);
        Assert.Equal(0, Xds.Status.GetStreams("node-1").Single().Types.Single(t => t.TypeUrl == XdsTypeUrls.Listener).Pushes);
        Assert.Equal(snapshot.Listeners.Version, Xds.Status.GetAckedVersion("node-1", XdsTypeUrls.Listener));
    }

    [Fact]
    public async Task NodeGroups_GetTheirOwnSnapshots()
    {
        Xds.Cache.SetSnapshot("gw-a.ns", Snapshot("a"));
        Xds.Cache.SetSnapshot("gw-b.ns", Snapshot("b"));
        await using var a = Sotw("pod-a", "gw-a.ns");
        await using var b = Sotw("pod-b", "gw-b.ns");
        await a.RequestAsync(XdsTypeUrls.Cluster);
        await b.RequestAsync(XdsTypeUrls.Cluster);
        Assert.Equal(["a"], (await a.ReceiveAsync(Timeout)).Resources.Select(r => r.Unpack<Cluster>().Name));
        Assert.Equal(["b"], (await b.ReceiveAsync(Timeout)).Resources.Select(r => r.Unpack<Cluster>().Name));
    }

    [Fact]
    public async Task Listener_ResourcesAreTheCachedEncodedBytes()
    {
        var snapshot = Snapshot("a");
        Xds.Cache.SetSnapshot(Group, snapshot);
        await using var client = Sotw();
        await client.RequestAsync(XdsTypeUrls.Listener);
        var response = await client.ReceiveAsync(Timeout);
        Assert.Equal(snapshot.Listeners.Resources[0].Packed, response.Resources[0]);
        Assert.Equal(XdsTestResources.ListenerName, response.Resources[0].Unpack<Listener>().Name);
    }
}
