using System.Text.Json.Nodes;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Waypoint.Controller.Client;
using Waypoint.Controller.Events;
using Waypoint.Controller.Publishing;
using Waypoint.Controller.Tests.Infrastructure;
using Waypoint.TestKit.Kubernetes;
using Waypoint.TestKit.Xds;
using Waypoint.Translator;
using Waypoint.Xds;
using Xunit.Abstractions;

namespace Waypoint.Controller.Tests.Diagnostics;

/// <summary>The Events the controller writes (core/v1, read back from the fake API server's store).</summary>
public sealed class ControllerEventsTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly WaypointKey Waypoint = new("apps", "waypoint");
    private ControllerHarness _h = null!;

    public async Task InitializeAsync()
    {
        _h = await WaypointNamespace.StartAsync(output, WaypointNamespace.WithSecurityTypes);
    }

    public async Task DisposeAsync() => await _h.DisposeAsync();

    [Fact]
    public async Task A_Waypoint_Becoming_Programmed_Gets_One_Normal_Programmed_Event_From_The_Leader_Only()
    {
        _h.Create(FakeResourceType.Services, Objects.Service("reviews"));
        var gateway = _h.Create(FakeResourceType.Gateways, Objects.Gateway("waypoint"));
        var leader = await _h.StartReplicaAsync("leader");
        await Eventually.TrueAsync(() => leader.Controller.IsLeader, "leader elected");
        var follower = await _h.StartReplicaAsync("follower");
        _h.Create(FakeResourceType.Pods, Objects.WaypointPod("waypoint"));
        _h.Patch(FakeResourceType.Pods, "apps", "waypoint-abc", Objects.PodReadyStatus(true), status: true);

        await Eventually.TrueAsync(() => Events("Programmed").Count == 1, "Programmed event", TimeSpan.FromSeconds(30));
        var programmed = Events("Programmed").Single();
        Assert.Equal("Normal", programmed["type"]!.GetValue<string>());
        Assert.Equal("Gateway", programmed["involvedObject"]!["kind"]!.GetValue<string>());
        Assert.Equal("waypoint", programmed["involvedObject"]!["name"]!.GetValue<string>());
        Assert.Equal(gateway["metadata"]!["uid"]!.GetValue<string>(), programmed["involvedObject"]!["uid"]!.GetValue<string>());
        Assert.Equal("waypoint-controller", programmed["source"]!["component"]!.GetValue<string>());
        Assert.Equal("apps", programmed["metadata"]!["namespace"]!.GetValue<string>());

        // Later reconciles of the same Programmed waypoint (a new route changes its status) write no second one.
        _h.Create(FakeResourceType.HttpRoutes, Objects.HttpRoute("reviews", "reviews", "reviews"));
        await Eventually.TrueAsync(() => _h.Get(FakeResourceType.HttpRoutes, "apps", "reviews")?["status"]?["parents"]?.AsArray().Count == 1, "route status written");
        Assert.Single(Events("Programmed"));
        Assert.Equal(0, follower.Controller.EventWrites);
    }

    [Fact]
    public async Task A_Nack_Writes_A_Warning_Rejected_Event_On_The_Object_Blamed()
    {
        await using var xds = await TestXdsServer.StartAsync();
        _h.Create(FakeResourceType.Gateways, Objects.Gateway("waypoint"));
        await _h.StartReplicaAsync(publisher: new XdsConfigPublisher(xds.Cache), xdsStatus: xds.Status);

        using var channel = GrpcChannel.ForAddress(xds.Address);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using var envoy = new SotwAdsTestClient(channel, SotwAdsTestClient.Node("waypoint-pod", Waypoint.ToString()), cts.Token);
        await envoy.RequestAsync(XdsTypeUrls.Cluster);
        var clusters = await envoy.ReceiveAsync();
        await envoy.NackAsync(clusters, "Error adding/updating cluster(s) connect_originate: bad TLS context");

        await Eventually.TrueAsync(() => Events("Rejected").Count == 1, "Rejected event", TimeSpan.FromSeconds(30));
        var rejected = Events("Rejected").Single();
        Assert.Equal("Warning", rejected["type"]!.GetValue<string>());
        Assert.Equal("Gateway", rejected["involvedObject"]!["kind"]!.GetValue<string>());
        Assert.Contains("bad TLS context", rejected["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_Invalid_AuthorizationPolicy_Gets_A_Warning_PolicyInvalid_Event_With_The_Reason()
    {
        _h.Create(FakeResourceType.Gateways, Objects.Gateway("waypoint"));
        _h.Create(FakeResourceType.Services, Objects.Service("reviews"));
        _h.Create(FakeResourceType.AuthorizationPolicies, """
            {"apiVersion":"security.istio.io/v1","kind":"AuthorizationPolicy","metadata":{"name":"no-delete","namespace":"apps","generation":1},
             "spec":{"targetRefs":[{"kind":"Service","group":"","name":"reviews"}],"action":"DENY",
                     "rules":[{"to":[{"operation":{"methods":["DELETE"],"paths":["/users/{*}"]}}]}]}}
            """);
        await _h.StartReplicaAsync();

        await Eventually.TrueAsync(() => Events("PolicyInvalid").Count == 1, "PolicyInvalid event", TimeSpan.FromSeconds(30));
        var invalid = Events("PolicyInvalid").Single();
        Assert.Equal("Warning", invalid["type"]!.GetValue<string>());
        Assert.Equal("AuthorizationPolicy", invalid["involvedObject"]!["kind"]!.GetValue<string>());
        Assert.Equal("security.istio.io/v1", invalid["involvedObject"]!["apiVersion"]!.GetValue<string>());
        Assert.Contains("spec.rules[0].to[0].operation.paths", invalid["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Repeats_Are_Counted_On_One_Event_And_A_Flapping_Object_Is_Throttled()
    {
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-12-02T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        var client = new KubernetesApiClient(_h.Server.CreateClientConfiguration());
        var recorder = new EventRecorder(client, time, NullLogger.Instance, "replica-a");
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var running = recorder.RunAsync(cts.Token);
        var route = new EventSubject("gateway.networking.k8s.io/v1", "HTTPRoute", "apps", "flappy", "uid-1");

        for (var i = 0; i < 3; i++)
        {
            recorder.Record(route, EventRecorder.Warning, "Rejected", "same message");
        }

        await Eventually.TrueAsync(() => recorder.Writes == 3, "three writes");
        var single = Assert.Single(Events("Rejected"));
        Assert.Equal(3, single["count"]!.GetValue<int>());

        // 40 different messages at once: the object's bucket (25 tokens, three spent above) lets 22 more through.
        for (var i = 0; i < 40; i++)
        {
            recorder.Record(route, EventRecorder.Warning, "Rejected", $"message {i}");
        }

        recorder.Record(new EventSubject("gateway.networking.k8s.io/v1", "HTTPRoute", "apps", "calm", "uid-2"), EventRecorder.Warning, "Rejected", "another object");
        await Eventually.TrueAsync(() => Events("Rejected").Any(e => e["involvedObject"]!["name"]!.GetValue<string>() == "calm"), "the other object's event");
        Assert.Equal(1 + 22, Events("Rejected").Count(e => e["involvedObject"]!["name"]!.GetValue<string>() == "flappy"));

        // Five minutes later one more token.
        time.Advance(TimeSpan.FromMinutes(5));
        recorder.Record(route, EventRecorder.Warning, "Rejected", "after the pause");
        await Eventually.TrueAsync(() => Events("Rejected").Any(e => e["message"]!.GetValue<string>() == "after the pause"), "refilled");
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => running);
    }

    private List<JsonObject> Events(string reason) =>
        _h.Store.Snapshot(FakeResourceType.Events).Where(e => e["reason"]?.GetValue<string>() == reason).ToList();
}
