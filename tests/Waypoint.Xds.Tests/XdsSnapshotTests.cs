using Envoy.Config.Cluster.V3;
using Google.Protobuf;
using Waypoint.TestKit.Xds;

namespace Waypoint.Xds.Tests;

public sealed class XdsSnapshotTests
{
    [Fact]
    public void Versions_AreContentHashes_IndependentOfOrderAndInstances()
    {
        var a = XdsTestResources.EdsCluster("a");
        var b = XdsTestResources.EdsCluster("b");
        var one = XdsSnapshot.Create([], [], [a, b], []);
        var two = XdsSnapshot.Create([], [], [XdsTestResources.EdsCluster("b"), XdsTestResources.EdsCluster("a")], []);
        Assert.Equal(one.Clusters.Version, two.Clusters.Version);
        Assert.Equal(one.Version, two.Version);
        Assert.Equal(["b", "a"], two.Clusters.Resources.Select(r => r.Name));

        var changed = XdsTestResources.EdsCluster("b");
        changed.ConnectTimeout = Google.Protobuf.WellKnownTypes.Duration.FromTimeSpan(TimeSpan.FromSeconds(5));
        var three = XdsSnapshot.Create([], [], [a, changed], []);
        Assert.NotEqual(one.Clusters.Version, three.Clusters.Version);
        Assert.Equal(one.Listeners.Version, three.Listeners.Version);
        Assert.NotEqual(one.Clusters.Resources[1].Version, three.Clusters.Resources[1].Version);
    }

    [Fact]
    public void DuplicateNames_AreRejected()
    {
        var error = Assert.Throws<ArgumentException>(() =>
            XdsSnapshot.Create([], [], [XdsTestResources.EdsCluster("a"), XdsTestResources.EdsCluster("a")], []));
        Assert.Contains("Duplicate cds resource name 'a'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Resources_AreEncodedOnce_AndLookedUpByName()
    {
        var snapshot = XdsTestResources.HttpProxy(("a", new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 1)));
        Assert.True(snapshot.Endpoints.TryGet("a", out var endpoints));
        Assert.Same(endpoints.Packed, snapshot.GetResources(XdsTypeUrls.ClusterLoadAssignment).Resources[0].Packed);
        Assert.Equal(XdsTypeUrls.ClusterLoadAssignment, endpoints.Packed.TypeUrl);
        Assert.Equal(snapshot.Routes.Version, snapshot.GetVersion(XdsTypeUrls.RouteConfiguration));
        Assert.Throws<ArgumentException>(() => snapshot.GetResources("type.googleapis.com/unknown"));
    }

    [Fact]
    public void Resource_KeepsOnlyTheEncoding_AndDecodesTheMessageOnDemand()
    {
        var (resource, made) = Wrap("a");
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();

        // The message the resource was made from is not referenced by it any more.
        Assert.False(made.TryGetTarget(out _));
        var decoded = Assert.IsType<Cluster>(resource.Message);
        Assert.Equal(XdsTestResources.EdsCluster("a"), decoded);
        Assert.NotSame(decoded, resource.Message);
        Assert.Equal(decoded.ToByteString(), resource.Packed.Value);

        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
        static (XdsResource, WeakReference<Cluster>) Wrap(string name)
        {
            var cluster = XdsTestResources.EdsCluster(name);
            return (XdsResource.Create(XdsTypeUrls.Cluster, cluster.Name, cluster), new WeakReference<Cluster>(cluster));
        }
    }

    [Fact]
    public void EdsServiceNames_AreReadFromTheEncodedClusters()
    {
        var named = XdsTestResources.EdsCluster("a");
        named.EdsClusterConfig.ServiceName = "a-endpoints";
        var unnamed = XdsTestResources.EdsCluster("b");
        unnamed.EdsClusterConfig.ServiceName = "";
        var shared = XdsTestResources.EdsCluster("c");
        shared.EdsClusterConfig.ServiceName = "a-endpoints";
        var nonEds = new Cluster { Name = "d", Type = Cluster.Types.DiscoveryType.Static };

        // Wrapped from their bytes alone, as the controller does, and made from messages.
        var fromBytes = XdsSnapshot.Create(new[] { named, unnamed, shared, nonEds }
            .Select(c => XdsResource.FromEncoded(XdsTypeUrls.Cluster, c.Name, Cluster.Parser, c.ToByteString())));
        var fromMessages = XdsSnapshot.Create([], [], [named, unnamed, shared, nonEds], []);

        Assert.Equal(["a-endpoints", "b"], fromBytes.EdsServiceNames);
        Assert.Equal(["a-endpoints", "b"], fromMessages.EdsServiceNames);
    }

    [Fact]
    public async Task Cache_SignalsChanges_AndRemoval()
    {
        var cache = new XdsSnapshotCache();
        var observed = cache.Observe("g");
        Assert.Null(observed.Snapshot);
        Assert.False(observed.Changed.IsCompleted);

        var snapshot = XdsSnapshot.Create([], [], [XdsTestResources.EdsCluster("a")], []);
        cache.SetSnapshot("g", snapshot);
        await observed.Changed.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Same(snapshot, cache.Observe("g").Snapshot);
        Assert.True(cache.TryGetSnapshot("g", out _));
        Assert.Equal(["g"], cache.NodeGroups);

        var again = cache.Observe("g");
        Assert.True(cache.RemoveSnapshot("g"));
        await again.Changed.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.False(cache.TryGetSnapshot("g", out _));
        Assert.False(cache.RemoveSnapshot("g"));
    }
}
