using System.Net;
using Envoy.Config.Core.V3;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Waypoint.TestKit.Xds;
using Waypoint.Xds.Security;

namespace Waypoint.Xds.Tests.Security;

// Waypoint.Node (a namespace, referenced through the TestKit) would otherwise hide Envoy's Node message here.
using Node = global::Envoy.Config.Core.V3.Node;

/// <summary>Identity parsing, the resolvers' verdicts, the loopback-only debug endpoint and the bounded cache.</summary>
public sealed class XdsAccessTests
{
    [Theory]
    [InlineData("spiffe://cluster.local/ns/apps/sa/waypoint", "cluster.local", "apps", "waypoint")]
    [InlineData("spiffe://td.example/ns/a-b/sa/c.d", "td.example", "a-b", "c.d")]
    public void Workload_Ids_Parse(string uri, string trustDomain, string ns, string sa)
    {
        var identity = XdsPeerIdentity.TryParse(uri);
        Assert.Equal(new XdsPeerIdentity(trustDomain, ns, sa), identity);
        Assert.Equal(uri, identity!.SpiffeId);
    }

    [Theory]
    [InlineData("https://cluster.local/ns/apps/sa/waypoint")]
    [InlineData("spiffe://cluster.local/ns/apps/sa/waypoint/extra")]
    [InlineData("spiffe://cluster.local/ns//sa/waypoint")]
    [InlineData("spiffe://cluster.local/sa/apps/ns/waypoint")]
    [InlineData("spiffe://Cluster.Local/ns/apps/sa/waypoint")]
    [InlineData("spiffe://cluster.local/ns/apps/sa/waypoint?x=1")]
    [InlineData("spiffe://cluster.local/ns/apps/sa/")]
    public void Other_Uris_Are_Not_Identities(string uri) => Assert.Null(XdsPeerIdentity.TryParse(uri));

    [Fact]
    public void Authenticated_Resolver_Requires_An_Identity_Granted_The_Named_Group()
    {
        var groups = new StaticXdsIdentityGroups(new Dictionary<string, string[]> { ["spiffe://cluster.local/ns/apps/sa/waypoint"] = ["waypoint.apps"] });
        var resolver = new AuthenticatedNodeGroupResolver(groups);
        var waypoint = new XdsPeerIdentity("cluster.local", "apps", "waypoint");

        Assert.Equal("waypoint.apps", resolver.Resolve(new Node { Cluster = "waypoint.apps" }, waypoint).NodeGroup);
        Assert.Equal(StatusCode.Unauthenticated, resolver.Resolve(new Node { Cluster = "waypoint.apps" }, null).Refusal);
        Assert.Equal(StatusCode.InvalidArgument, resolver.Resolve(new Node(), waypoint).Refusal);
        Assert.Equal(StatusCode.PermissionDenied, resolver.Resolve(new Node { Cluster = "other.apps" }, waypoint).Refusal);
        Assert.Equal(StatusCode.PermissionDenied, resolver.Resolve(new Node { Cluster = "waypoint.apps" }, waypoint with { ServiceAccount = "other" }).Refusal);
    }

    [Fact]
    public void Plaintext_Resolver_Takes_Node_Cluster()
    {
        var resolver = new NodeClusterGroupResolver();
        Assert.Equal("gw.ns", resolver.Resolve(new Node { Cluster = "gw.ns" }, null).NodeGroup);
        Assert.Equal(StatusCode.InvalidArgument, resolver.Resolve(new Node(), null).Refusal);
    }

    [Theory]
    [InlineData("127.0.0.1", true)]
    [InlineData("127.0.0.2", true)]
    [InlineData("::1", true)]
    [InlineData("::ffff:127.0.0.1", true)]
    [InlineData("10.244.0.7", false)]
    [InlineData("0.0.0.0", false)]
    [InlineData("fd00::7", false)]
    [InlineData("::ffff:10.244.0.7", false)]
    public async Task Debug_Endpoint_Answers_Only_Connections_To_A_Loopback_Address(string localAddress, bool answers)
    {
        var http = new DefaultHttpContext();
        http.Connection.LocalIpAddress = IPAddress.Parse(localAddress);
        http.Request.Host = new HostString("127.0.0.1");   // the Host header is the client's to choose; it must not matter
        var reached = false;
        var result = await XdsEndpointRouteBuilderExtensions.LoopbackOnly(
            new DefaultEndpointFilterInvocationContext(http),
            _ =>
            {
                reached = true;
                return ValueTask.FromResult<object?>(Results.Ok());
            });

        Assert.Equal(answers, reached);
        if (!answers)
        {
            Assert.IsType<NotFound>(result);
        }
    }

    [Fact]
    public void Debug_Endpoint_Refuses_A_Connection_Without_A_Local_Address()
    {
        Assert.False(XdsEndpointRouteBuilderExtensions.IsLoopbackConnection(new DefaultHttpContext().Connection));
    }

    [Fact]
    public async Task Observing_Unknown_Groups_Caches_Nothing_And_A_Later_Publish_Still_Wakes_The_Observer()
    {
        var cache = new XdsSnapshotCache();
        cache.SetSnapshot("known.ns", XdsTestResources.HttpProxy(("echo", new IPEndPoint(IPAddress.Loopback, 9))));
        XdsSnapshotObservation waiting = default;
        for (var i = 0; i < 10_000; i++)
        {
            waiting = cache.Observe($"made-up-{i}.ns");
            Assert.Null(waiting.Snapshot);
        }

        Assert.Equal(1, cache.EntryCount);
        Assert.False(waiting.Changed.IsCompleted);

        cache.SetSnapshot("made-up-9999.ns", XdsTestResources.HttpProxy(("echo", new IPEndPoint(IPAddress.Loopback, 9))));
        await waiting.Changed.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.NotNull(cache.Observe("made-up-9999.ns").Snapshot);
        Assert.Equal(2, cache.EntryCount);
    }

    [Fact]
    public async Task Removing_A_Snapshot_Removes_The_Group_And_Wakes_Its_Observers()
    {
        var cache = new XdsSnapshotCache();
        cache.SetSnapshot("gw.ns", XdsTestResources.HttpProxy(("echo", new IPEndPoint(IPAddress.Loopback, 9))));
        var observation = cache.Observe("gw.ns");

        Assert.True(cache.RemoveSnapshot("gw.ns"));

        await observation.Changed.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(0, cache.EntryCount);
        Assert.Empty(cache.NodeGroups);
        Assert.False(cache.RemoveSnapshot("gw.ns"));
        var again = cache.Observe("gw.ns");
        Assert.Null(again.Snapshot);
        cache.SetSnapshot("gw.ns", XdsTestResources.HttpProxy(("echo", new IPEndPoint(IPAddress.Loopback, 9))));
        await again.Changed.WaitAsync(TimeSpan.FromSeconds(5));
    }
}
