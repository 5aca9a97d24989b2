using System.Text.Json.Nodes;
using Waypoint.Controller.Tests.Infrastructure;
using Waypoint.TestKit.Kubernetes;
using Xunit.Abstractions;

namespace Waypoint.Controller.Tests.Reconciliation;

/// <summary>The controller end to end against the fake API server.</summary>
public sealed class WaypointControllerTests(ITestOutputHelper output) : IAsyncLifetime
{
    private ControllerHarness _h = null!;

    public async Task InitializeAsync()
    {
        _h = await ControllerHarness.StartAsync(output);
        _h.Create(FakeResourceType.Namespaces, Objects.Namespace("apps"));
        _h.Create(FakeResourceType.GatewayClasses, Objects.GatewayClass());
    }

    public async Task DisposeAsync() => await _h.DisposeAsync();

    [Fact]
    public async Task GatewayClass_Is_Accepted_And_Foreign_Classes_Are_Left_Alone()
    {
        _h.Create(FakeResourceType.GatewayClasses, Objects.GatewayClass("other", controller: "example.com/other"));
        await _h.StartReplicaAsync();
        await Eventually.TrueAsync(() => ControllerHarness.Condition(_h.Get(FakeResourceType.GatewayClasses, "", "kgateway-waypoint"), "Accepted") == "True", "class accepted");
        Assert.Null(_h.Get(FakeResourceType.GatewayClasses, "", "other")!["status"]);
    }

    [Fact]
    public async Task The_Heap_Is_Compacted_Once_After_The_First_Publish_Unless_Turned_Off()
    {
        var compacting = await _h.StartReplicaAsync("replica-a");
        var quiet = await _h.StartReplicaAsync("replica-b", o => o.CompactHeapAfterFirstPublish = false);
        await Eventually.TrueAsync(() => compacting.Logs.HasEvent("HeapCompacted"), "compacted after the first publish");

        // A later publish does not compact again.
        _h.Create(FakeResourceType.Gateways, Objects.Gateway("waypoint"));
        await Eventually.TrueAsync(() => compacting.Logs.Entries.Count(e => e.EventId.Name == "SnapshotPublished") > 1, "published again");
        Assert.Single(compacting.Logs.Entries, e => e.EventId.Name == "HeapCompacted");
        Assert.False(quiet.Logs.HasEvent("HeapCompacted"));
    }

    [Fact]
    public async Task Gateway_Lifecycle_Creates_Objects_Publishes_Addresses_Once_Ready_And_Collects_Garbage()
    {
        var replica = await _h.StartReplicaAsync();
        var gateway = _h.Create(FakeResourceType.Gateways, Objects.Gateway("waypoint"));
        var uid = gateway["metadata"]!["uid"]!.GetValue<string>();

        await Eventually.TrueAsync(() => _h.Get(FakeResourceType.Deployments, "apps", "waypoint") is not null && _h.Get(FakeResourceType.Services, "apps", "waypoint") is not null, "objects created");
        var deployment = _h.Get(FakeResourceType.Deployments, "apps", "waypoint")!;
        Assert.Equal(uid, deployment["metadata"]!["ownerReferences"]![0]!["uid"]!.GetValue<string>());
        var podLabels = deployment["spec"]!["template"]!["metadata"]!["labels"]!;
        Assert.Equal("waypoint", podLabels["gateway.networking.k8s.io/gateway-name"]!.GetValue<string>());
        Assert.Equal("none", podLabels["istio.io/dataplane-mode"]!.GetValue<string>());
        Assert.Equal("false", podLabels["sidecar.istio.io/inject"]!.GetValue<string>());
        var podSpec = deployment["spec"]!["template"]!["spec"]!;
        Assert.Equal("waypoint", podSpec["serviceAccountName"]!.GetValue<string>());
        Assert.Equal("istio-ca", podSpec["volumes"]!.AsArray().Single(v => v!["name"]!.GetValue<string>() == "istio-token")!["projected"]!["sources"]![0]!["serviceAccountToken"]!["audience"]!.GetValue<string>());
        Assert.Contains(podSpec["volumes"]!.AsArray(), v => v!["configMap"]?["name"]?.GetValue<string>() == "istio-ca-root-cert");
        Assert.True(podSpec["securityContext"]!["runAsNonRoot"]!.GetValue<bool>());
        Assert.Equal(["envoy", "agent"], podSpec["containers"]!.AsArray().Select(c => c!["name"]!.GetValue<string>()));
        Assert.NotNull(_h.Get(FakeResourceType.ServiceAccounts, "apps", "waypoint"));
        Assert.NotNull(_h.Get(FakeResourceType.ConfigMaps, "apps", "waypoint-bootstrap"));
        var service = _h.Get(FakeResourceType.Services, "apps", "waypoint")!;
        Assert.Contains(service["spec"]!["ports"]!.AsArray(), p => p!["port"]!.GetValue<int>() == 15008 && p["name"]!.GetValue<string>() == "mesh");

        // Accepted, not yet Programmed, and no address while no pod is ready.
        await Eventually.TrueAsync(() => ControllerHarness.Condition(_h.Get(FakeResourceType.Gateways, "apps", "waypoint"), "Programmed", "reason") == "Pending", "pending");
        var status = _h.Get(FakeResourceType.Gateways, "apps", "waypoint")!["status"]!;
        Assert.Equal("True", ControllerHarness.Condition(_h.Get(FakeResourceType.Gateways, "apps", "waypoint"), "Accepted"));
        Assert.Null(status["addresses"]);
        Assert.Equal("HTTPRoute", status["listeners"]![0]!["supportedKinds"]![0]!["kind"]!.GetValue<string>());

        // A ready pod: the ClusterIP and the Service hostname are published.
        _h.Create(FakeResourceType.Pods, Objects.WaypointPod("waypoint"));
        _h.Patch(FakeResourceType.Pods, "apps", "waypoint-abc", Objects.PodReadyStatus(true), status: true);
        await Eventually.TrueAsync(() => ControllerHarness.Condition(_h.Get(FakeResourceType.Gateways, "apps", "waypoint"), "Programmed") == "True", "programmed");
        var addresses = _h.Get(FakeResourceType.Gateways, "apps", "waypoint")!["status"]!["addresses"]!.AsArray();
        Assert.Equal(service["spec"]!["clusterIP"]!.GetValue<string>(), addresses.Single(a => a!["type"]!.GetValue<string>() == "IPAddress")!["value"]!.GetValue<string>());
        Assert.Equal("waypoint.apps.svc.cluster.local", addresses.Single(a => a!["type"]!.GetValue<string>() == "Hostname")!["value"]!.GetValue<string>());

        // The pod turns unready: the addresses stay.
        _h.Patch(FakeResourceType.Pods, "apps", "waypoint-abc", Objects.PodReadyStatus(false), status: true);
        _h.Patch(FakeResourceType.Gateways, "apps", "waypoint", """{"metadata":{"labels":{"touch":"1"}}}""");
        await Eventually.TrueAsync(() => replica.Controller.State.Pods.Items.All(p => p.Status.Conditions.All(c => c.Status == "False")), "unready seen");
        await Eventually.TrueAsync(() => replica.Controller.State.Gateways.Items.Any(g => g.Metadata.Labels?.ContainsKey("touch") == true), "gateway change seen");
        Assert.Equal(2, _h.Get(FakeResourceType.Gateways, "apps", "waypoint")!["status"]!["addresses"]!.AsArray().Count);

        // An update reaches the Deployment (patched, not recreated).
        var deploymentUid = deployment["metadata"]!["uid"]!.GetValue<string>();
        _h.Patch(FakeResourceType.Gateways, "apps", "waypoint", """{"spec":{"infrastructure":{"labels":{"team":"payments"}}}}""");
        await Eventually.TrueAsync(() => _h.Get(FakeResourceType.Deployments, "apps", "waypoint")?["spec"]?["template"]?["metadata"]?["labels"]?["team"]?.GetValue<string>() == "payments", "label propagated");
        Assert.Equal(deploymentUid, _h.Get(FakeResourceType.Deployments, "apps", "waypoint")!["metadata"]!["uid"]!.GetValue<string>());

        // Delete: owner references let the garbage collector remove everything.
        _h.Delete(FakeResourceType.Gateways, "apps", "waypoint");
        Assert.Null(_h.Get(FakeResourceType.Deployments, "apps", "waypoint"));
        Assert.Null(_h.Get(FakeResourceType.Services, "apps", "waypoint"));
        Assert.Null(_h.Get(FakeResourceType.ServiceAccounts, "apps", "waypoint"));
        Assert.Null(_h.Get(FakeResourceType.ConfigMaps, "apps", "waypoint-bootstrap"));
        await Eventually.TrueAsync(() => replica.Publisher.Latest?.Snapshot.Gateways.Count == 0, "snapshot without the gateway");
    }

    [Theory]
    [InlineData("""[{"name":"http","port":80,"protocol":"HTTP"}]""", "UnsupportedProtocol")]
    [InlineData("""[{"name":"mesh","port":15009,"protocol":"HBONE"}]""", "PortUnavailable")]
    [InlineData("""[{"name":"mesh","port":15008,"protocol":"HBONE","hostname":"x.example"}]""", "UnsupportedValue")]
    public async Task Wrong_Listener_Shapes_Get_Clear_Conditions_And_No_Deployment(string listeners, string reason)
    {
        await _h.StartReplicaAsync();
        _h.Create(FakeResourceType.Gateways, Objects.Gateway("bad", listeners: listeners));
        await Eventually.TrueAsync(() => ControllerHarness.Condition(_h.Get(FakeResourceType.Gateways, "apps", "bad"), "Accepted", "reason") == "ListenersNotValid", "not accepted");
        var gateway = _h.Get(FakeResourceType.Gateways, "apps", "bad")!;
        var listener = gateway["status"]!["listeners"]![0]!;
        Assert.Equal(reason, ((JsonArray)listener["conditions"]!).Single(c => c!["type"]!.GetValue<string>() == "Accepted")!["reason"]!.GetValue<string>());
        Assert.Equal("False", ControllerHarness.Condition(gateway, "Programmed"));
        Assert.Null(_h.Get(FakeResourceType.Deployments, "apps", "bad"));
    }

    [Fact]
    public async Task Parameters_Override_Replicas_Images_Labels_And_Missing_Ones_Are_Reported()
    {
        _h.Create(FakeResourceType.WaypointParameters, """
            {"metadata":{"name":"big","namespace":"apps"},"spec":{"replicas":3,"labels":{"tier":"mesh"},
             "envoy":{"image":"registry.example/envoy:custom","resources":{"requests":{"cpu":"2","memory":"1Gi"}}}}}
            """);
        await _h.StartReplicaAsync();
        _h.Create(FakeResourceType.Gateways, Objects.Gateway("custom", extraSpec: ""","infrastructure":{"parametersRef":{"group":"gateway.kgateway.dev","kind":"WaypointParameters","name":"big"}}"""));
        _h.Create(FakeResourceType.Gateways, Objects.Gateway("broken", extraSpec: ""","infrastructure":{"parametersRef":{"group":"gateway.kgateway.dev","kind":"WaypointParameters","name":"missing"}}"""));

        await Eventually.TrueAsync(() => _h.Get(FakeResourceType.Deployments, "apps", "custom") is not null, "deployment");
        var deployment = _h.Get(FakeResourceType.Deployments, "apps", "custom")!;
        Assert.Equal(3, deployment["spec"]!["replicas"]!.GetValue<int>());
        Assert.Equal("mesh", deployment["spec"]!["template"]!["metadata"]!["labels"]!["tier"]!.GetValue<string>());
        var envoy = deployment["spec"]!["template"]!["spec"]!["containers"]![0]!;
        Assert.Equal("registry.example/envoy:custom", envoy["image"]!.GetValue<string>());
        Assert.Equal("2", envoy["resources"]!["requests"]!["cpu"]!.GetValue<string>());

        await Eventually.TrueAsync(() => ControllerHarness.Condition(_h.Get(FakeResourceType.Gateways, "apps", "broken"), "Accepted", "reason") == "InvalidParameters", "invalid parameters");
        Assert.Contains("missing", ControllerHarness.Condition(_h.Get(FakeResourceType.Gateways, "apps", "broken"), "Accepted", "message"), StringComparison.Ordinal);
        Assert.Null(_h.Get(FakeResourceType.Deployments, "apps", "broken"));
    }

    [Fact]
    public async Task Route_Status_Follows_Waypoint_Binding_Labels_And_Keeps_Other_Controllers_Entries()
    {
        _h.Create(FakeResourceType.Services, Objects.Service("reviews"));
        _h.Create(FakeResourceType.HttpRoutes, Objects.HttpRoute("reviews", "reviews", "reviews"));
        _h.Patch(FakeResourceType.HttpRoutes, "apps", "reviews", """
            {"status":{"parents":[{"parentRef":{"name":"elsewhere"},"controllerName":"example.com/other","conditions":[{"type":"Accepted","status":"True","reason":"Accepted","message":"","lastTransitionTime":"2026-01-01T00:00:00Z"}]}]}}
            """, status: true);
        _h.Create(FakeResourceType.Gateways, Objects.Gateway("waypoint"));
        await _h.StartReplicaAsync();

        // Not bound yet: nothing of ours in the route status.
        await Eventually.TrueAsync(() => ControllerHarness.Condition(_h.Get(FakeResourceType.Gateways, "apps", "waypoint"), "Accepted") == "True", "gateway reconciled");
        Assert.Single(Parents());

        // Binding the namespace makes the route ours.
        _h.Patch(FakeResourceType.Namespaces, "", "apps", """{"metadata":{"labels":{"istio.io/use-waypoint":"waypoint"}}}""");
        await Eventually.TrueAsync(() => Parents().Count == 2, "our parent entry");
        var ours = Parents().Single(p => p!["controllerName"]!.GetValue<string>() == ControllerHarness.ControllerName)!;
        Assert.Equal("reviews", ours["parentRef"]!["name"]!.GetValue<string>());
        Assert.Equal("True", ((JsonArray)ours["conditions"]!).Single(c => c!["type"]!.GetValue<string>() == "Accepted")!["status"]!.GetValue<string>());
        Assert.Equal("True", ((JsonArray)ours["conditions"]!).Single(c => c!["type"]!.GetValue<string>() == "ResolvedRefs")!["status"]!.GetValue<string>());

        // The Service opts out: its own label beats the namespace's.
        _h.Patch(FakeResourceType.Services, "apps", "reviews", """{"metadata":{"labels":{"istio.io/use-waypoint":"none"}}}""");
        await Eventually.TrueAsync(() => Parents().Count == 1, "our entry removed");
        Assert.Equal("example.com/other", Parents()[0]!["controllerName"]!.GetValue<string>());

        // Rebinding through the Service label, with a backend that does not exist: ResolvedRefs=False.
        _h.Patch(FakeResourceType.Services, "apps", "reviews", """{"metadata":{"labels":{"istio.io/use-waypoint":"waypoint"}}}""");
        _h.Patch(FakeResourceType.HttpRoutes, "apps", "reviews", """{"spec":{"rules":[{"backendRefs":[{"name":"ghost","port":8080}]}]}}""");
        await Eventually.TrueAsync(() => Parents().Any(p => ((JsonArray)p!["conditions"]!).Any(c => c!["reason"]!.GetValue<string>() == "BackendNotFound")), "backend not found");
    }

    [Fact]
    public async Task Publishes_A_Full_Snapshot_After_Initial_Sync_And_Then_On_Change()
    {
        for (var i = 0; i < 20; i++)
        {
            _h.Create(FakeResourceType.Services, Objects.Service($"svc-{i}"));
            _h.Create(FakeResourceType.EndpointSlices, Objects.EndpointSlice($"svc-{i}"));
        }

        var replica = await _h.StartReplicaAsync();
        var first = replica.Publisher.Updates.First();
        Assert.Equal(1, first.Version);
        Assert.Equal(20, first.Snapshot.Services.Count);
        Assert.Equal(20, first.Snapshot.EndpointSlices.Count);
        Assert.Single(first.Snapshot.GatewayClasses);

        _h.Create(FakeResourceType.HttpRoutes, Objects.HttpRoute("r", "svc-1", "svc-2"));
        await Eventually.TrueAsync(() => replica.Publisher.Latest!.Snapshot.HttpRoutes.Count == 1, "route published");
        Assert.True(replica.Publisher.Latest!.Version > 1);
    }

    [Fact]
    public async Task Restarted_Controller_Converges_Without_Duplicates_Or_Status_Churn()
    {
        CreateWaypointWithBoundRoute();
        _h.Create(FakeResourceType.Pods, Objects.WaypointPod("waypoint"));
        _h.Patch(FakeResourceType.Pods, "apps", "waypoint-abc", Objects.PodReadyStatus(true), status: true);

        var first = await _h.StartReplicaAsync("first");
        await Eventually.TrueAsync(() => ControllerHarness.Condition(_h.Get(FakeResourceType.Gateways, "apps", "waypoint"), "Programmed") == "True"
            && _h.Get(FakeResourceType.HttpRoutes, "apps", "reviews")?["status"]?["parents"]?.AsArray().Count == 1, "converged");
        // The first leader's Programmed Event is written from its event queue after the status: let it land before the
        // restart, or its POST would be counted against the second replica.
        await Eventually.TrueAsync(() => _h.Store.Snapshot(FakeResourceType.Events).Any(e => e["reason"]?.GetValue<string>() == "Programmed"), "first leader's Programmed event written");
        await first.StopAsync();
        var revision = _h.Store.CurrentRevision;
        _h.Server.ClearRequestLog();

        var second = await _h.StartReplicaAsync("second");
        await Eventually.TrueAsync(() => second.Controller.IsLeader, "second leads", TimeSpan.FromSeconds(15));

        // Let the new leader do a full pass: every Gateway reconciled (4 object GETs each) and the route pass done.
        await Eventually.TrueAsync(() => _h.Server.CountRequests("GET", "configmaps") >= 1, "gateway reconciled");
        await Eventually.TrueAsync(() => second.Logs.Entries.Any(e => e.EventId.Name == "Reconciled" && e.Message.Contains("HTTPRoute statuses", StringComparison.Ordinal)), "route pass done");
        await Eventually.TrueAsync(() => second.Logs.Entries.Any(e => e.EventId.Name == "Reconciled" && e.Message.Contains("Gateway apps/waypoint", StringComparison.Ordinal)), "gateway pass done");
        Assert.Empty(_h.Server.Requests.Where(r => r.Method is "POST" or "PATCH" && r.Plural != "leases").Select(r => $"{r.Method} {r.Path}"));
        Assert.Empty(_h.Server.Requests.Where(r => r.Subresource == "status").Select(r => $"{r.Method} {r.Path}"));
        Assert.Single(_h.Store.Snapshot(FakeResourceType.Deployments));
        Assert.Single(_h.Store.Snapshot(FakeResourceType.ServiceAccounts));
        Assert.Equal(2, _h.Store.Snapshot(FakeResourceType.Services).Count);
        var newestGateway = _h.Store.Snapshot(FakeResourceType.Gateways).Max(g => long.Parse(g["metadata"]!["resourceVersion"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(newestGateway <= revision, "the restarted controller rewrote a Gateway");
    }

    [Fact]
    public async Task Api_Server_Outage_Loses_No_Events()
    {
        _h.Create(FakeResourceType.Services, Objects.Service("reviews"));
        _h.Create(FakeResourceType.HttpRoutes, Objects.HttpRoute("reviews", "reviews", "reviews"));
        _h.Create(FakeResourceType.Gateways, Objects.Gateway("waypoint"));
        var replica = await _h.StartReplicaAsync();
        await Eventually.TrueAsync(() => ControllerHarness.Condition(_h.Get(FakeResourceType.Gateways, "apps", "waypoint"), "Accepted") == "True", "accepted");

        await _h.Server.StopAsync();
        _h.Patch(FakeResourceType.Namespaces, "", "apps", """{"metadata":{"labels":{"istio.io/use-waypoint":"waypoint"}}}""");
        _h.Create(FakeResourceType.Services, Objects.Service("ratings"));
        _h.Create(FakeResourceType.HttpRoutes, Objects.HttpRoute("ratings", "ratings", "ratings"));
        _h.Delete(FakeResourceType.Services, "apps", "reviews");
        await _h.Server.StartAsync();

        await Eventually.TrueAsync(() => _h.Get(FakeResourceType.HttpRoutes, "apps", "ratings")?["status"]?["parents"]?.AsArray().Count == 1, "route written after outage");
        await Eventually.TrueAsync(() => replica.Publisher.Latest!.Snapshot.Services.Any(s => s.Metadata.Name == "ratings")
            && replica.Publisher.Latest!.Snapshot.Services.All(s => s.Metadata.Name != "reviews"), "snapshot caught up");
    }

    [Fact]
    public async Task Two_Replicas_One_Leader_Writes_And_The_Other_Takes_Over()
    {
        var a = await _h.StartReplicaAsync("a", o => o.LeaderElection.ReleaseOnCancel = false);
        await Eventually.TrueAsync(() => a.Controller.IsLeader, "a leads");
        var b = await _h.StartReplicaAsync("b");
        _h.Create(FakeResourceType.Gateways, Objects.Gateway("one"));
        await Eventually.TrueAsync(() => _h.Get(FakeResourceType.Deployments, "apps", "one") is not null, "a reconciled");
        await Eventually.TrueAsync(() => b.Publisher.Latest?.Snapshot.Gateways.Count == 1, "b serves the same config");
        Assert.False(b.Controller.IsLeader);
        Assert.DoesNotContain(b.Logs.Entries, e => e.EventId.Name is "ObjectCreated" or "StatusWritten");

        // a crashes (no release): b takes over once the Lease expires, and reconciles new work.
        await a.StopAsync();
        _h.Create(FakeResourceType.Gateways, Objects.Gateway("two"));
        await Eventually.TrueAsync(() => b.Controller.IsLeader, "b leads", TimeSpan.FromSeconds(15));
        await Eventually.TrueAsync(() => _h.Get(FakeResourceType.Deployments, "apps", "two") is not null, "b reconciled");
        Assert.Contains(b.Logs.Entries, e => e.EventId.Name == "ObjectCreated");
    }

    [Fact]
    public async Task Malformed_Objects_In_A_Watch_Do_Not_Stop_The_Controller()
    {
        var replica = await _h.StartReplicaAsync();
        await Eventually.TrueAsync(() => _h.Store.OpenWatchCount(FakeResourceType.Gateways) == 1, "watching gateways");
        _h.Store.InjectRawWatchLine(FakeResourceType.Gateways, "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"evil\",\"namespace\":\"apps\"},\"spec\":{\"listeners\":\"oops\"}}}");
        _h.Store.InjectRawWatchLine(FakeResourceType.Gateways, "garbage");
        _h.Store.InjectRawWatchLine(FakeResourceType.HttpRoutes, "{\"type\":\"MODIFIED\",\"object\":[]}");
        _h.Create(FakeResourceType.Gateways, Objects.Gateway("fine"));
        await Eventually.TrueAsync(() => _h.Get(FakeResourceType.Deployments, "apps", "fine") is not null, "later gateway reconciled");
        Assert.True(replica.Logs.HasEvent("MalformedWatchEvent"));
    }

    [Fact]
    public async Task Steady_State_Writes_Nothing()
    {
        CreateWaypointWithBoundRoute();
        var replica = await _h.StartReplicaAsync();
        await Eventually.TrueAsync(() => Parents().Count == 1, "route status");
        await Eventually.TrueAsync(() => ControllerHarness.Condition(_h.Get(FakeResourceType.Gateways, "apps", "waypoint"), "Programmed", "reason") == "Pending", "gateway status");

        // Every other write of the start is in too (the class's status and the waypoint's objects are separate work
        // items that may land after the Gateway's status), so what follows counts only writes the changes cause.
        await Eventually.TrueAsync(() => ControllerHarness.Condition(_h.Get(FakeResourceType.GatewayClasses, "", "kgateway-waypoint"), "Accepted") == "True", "class status");
        await Eventually.TrueAsync(
            () => _h.Get(FakeResourceType.Deployments, "apps", "waypoint") is not null && _h.Get(FakeResourceType.Services, "apps", "waypoint") is not null
                && _h.Get(FakeResourceType.ServiceAccounts, "apps", "waypoint") is not null,
            "waypoint objects");
        _h.Server.ClearRequestLog();
        var version = replica.Publisher.Latest!.Version;
        int GatewayReconciles() => replica.Logs.Entries.Count(e => e.EventId.Name == "Reconciled" && e.Message.Contains("Gateway apps/waypoint", StringComparison.Ordinal));
        var reconciles = GatewayReconciles();
        _h.Create(FakeResourceType.EndpointSlices, Objects.EndpointSlice("reviews"));
        _h.Patch(FakeResourceType.HttpRoutes, "apps", "reviews", """{"metadata":{"annotations":{"note":"x"}}}""");

        // An endpoint change leaves the Gateway's computed status alone, so it queues no Gateway reconcile; a change
        // to the Gateway itself does.
        _h.Patch(FakeResourceType.Gateways, "apps", "waypoint", """{"metadata":{"annotations":{"note":"x"}}}""");
        await Eventually.TrueAsync(() => replica.Publisher.Latest!.Version > version && replica.Publisher.Latest!.Snapshot.EndpointSlices.Count == 1, "republished");
        await Eventually.TrueAsync(() => GatewayReconciles() > reconciles, "gateway reconciled again");
        Assert.Empty(_h.Server.Requests.Where(r => r.Method is "PUT" or "PATCH" or "POST" && r.Plural != "leases").Select(r => $"{r.Method} {r.Path}"));

        // The owned objects come from the informers' caches: reconciling reads nothing from the API server.
        Assert.Equal(0, _h.Server.Requests.Count(r => r.Method == "GET" && !r.Watch && r.Plural is "deployments" or "services" or "serviceaccounts" or "configmaps"));
    }

    [Fact]
    public async Task Status_Write_Memo_Is_Forgotten_Once_The_Cache_Catches_Up()
    {
        CreateWaypointWithBoundRoute();
        var replica = await _h.StartReplicaAsync();
        await Eventually.TrueAsync(() => Parents().Count == 1, "route status");

        // The memo is recorded once the PUT's answer is back, a moment after the store has the status.
        await Eventually.TrueAsync(() => replica.Controller.PendingStatusWrites > 0, "status write remembered");

        // Once the watch has delivered our own writes, the memo can no longer match a reconcile: it is dropped.
        await Eventually.TrueAsync(
            () => replica.Controller.State.HttpRoutes.TryGet(new("apps", "reviews"), out var cached)
                && cached.Metadata.ResourceVersion == _h.Get(FakeResourceType.HttpRoutes, "apps", "reviews")!["metadata"]!["resourceVersion"]!.GetValue<string>()
                && replica.Controller.State.Gateways.TryGet(new("apps", "waypoint"), out var gateway)
                && gateway.Metadata.ResourceVersion == _h.Get(FakeResourceType.Gateways, "apps", "waypoint")!["metadata"]!["resourceVersion"]!.GetValue<string>(),
            "cache caught up");
        await Eventually.TrueAsync(() =>
        {
            replica.Controller.PruneStatusWrites();
            return replica.Controller.PendingStatusWrites == 0;
        }, "memo pruned");
    }

    /// <summary>Service <c>apps/reviews</c> bound to Gateway <c>apps/waypoint</c>, with an HTTPRoute on the Service.</summary>
    private void CreateWaypointWithBoundRoute()
    {
        _h.Create(FakeResourceType.Services, Objects.Service("reviews", labels: """{"istio.io/use-waypoint":"waypoint"}"""));
        _h.Create(FakeResourceType.HttpRoutes, Objects.HttpRoute("reviews", "reviews", "reviews"));
        _h.Create(FakeResourceType.Gateways, Objects.Gateway("waypoint"));
    }

    private JsonArray Parents() => _h.Get(FakeResourceType.HttpRoutes, "apps", "reviews")?["status"]?["parents"]?.AsArray() ?? [];
}
