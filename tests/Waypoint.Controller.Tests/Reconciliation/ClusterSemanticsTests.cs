using System.Diagnostics;
using System.Text.Json.Nodes;
using Envoy.Service.Discovery.V3;
using Grpc.Net.Client;
using Waypoint.Controller.Publishing;
using Waypoint.Controller.Tests.Infrastructure;
using Waypoint.TestKit.Kubernetes;
using Waypoint.TestKit.Xds;
using Waypoint.Translator;
using Waypoint.Xds;
using Xunit.Abstractions;

namespace Waypoint.Controller.Tests.Reconciliation;

/// <summary>
/// The cluster path does what the translator decides: TrafficPolicies, which Gateways are waypoints, per-waypoint
/// isolation, status writes that do not stop each other, optional CRDs, and Envoy's NACKs fed back into status.
/// </summary>
public sealed class ClusterSemanticsTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly WaypointKey Waypoint = new("apps", "waypoint");
    private ControllerHarness _h = null!;

    public async Task InitializeAsync()
    {
        _h = await WaypointNamespace.StartAsync(output);
    }

    public async Task DisposeAsync() => await _h.DisposeAsync();

    [Fact]
    public async Task TrafficPolicy_Retry_And_Transformation_Reach_The_Published_Xds_And_Its_Status_Is_Written()
    {
        _h.Create(FakeResourceType.Gateways, Objects.Gateway("waypoint"));
        _h.Create(FakeResourceType.Services, Objects.Service("reviews"));
        _h.Create(FakeResourceType.HttpRoutes, Objects.HttpRoute("reviews", "reviews", "reviews"));
        _h.Create(FakeResourceType.TrafficPolicies, """
            {"apiVersion":"gateway.kgateway.dev/v1alpha1","kind":"TrafficPolicy","metadata":{"name":"retries","namespace":"apps"},
             "spec":{"targetRefs":[{"group":"gateway.networking.k8s.io","kind":"HTTPRoute","name":"reviews"}],
                     "retry":{"retryOn":["5xx"],"attempts":4},
                     "transformation":{"response":{"add":[{"name":"x-waypoint","value":"policy"}]}}}}
            """);
        var policy = _h.Get(FakeResourceType.TrafficPolicies, "apps", "retries")!;
        policy["status"] = JsonNode.Parse("""
            {"ancestors":[{"ancestorRef":{"group":"gateway.networking.k8s.io","kind":"Gateway","name":"elsewhere"},"controllerName":"example.com/other",
              "conditions":[{"type":"Accepted","status":"True","reason":"Accepted","message":"","lastTransitionTime":"2026-01-01T00:00:00Z"}]}]}
            """);
        _h.Patch(FakeResourceType.TrafficPolicies, "apps", "retries", policy.ToJsonString(), status: true);

        var replica = await _h.StartReplicaAsync();

        await Eventually.TrueAsync(() => replica.Publisher.Latest?.Translation.Waypoints.ContainsKey(Waypoint) == true, "waypoint published");
        var route = PublishedRoutes(replica).Single();
        Assert.Equal(4u, route["route"]!["retryPolicy"]!["numRetries"]!.GetValue<uint>());
        Assert.Contains(route["responseHeadersToAdd"]!.AsArray(), h => h!["header"]!["key"]!.GetValue<string>() == "x-waypoint");

        await Eventually.TrueAsync(() => Ancestors().Count == 2, "our ancestor written");
        var ours = Ancestors().Single(a => a!["controllerName"]!.GetValue<string>() == ControllerHarness.ControllerName)!;
        Assert.Equal("reviews", ours["ancestorRef"]!["name"]!.GetValue<string>());
        Assert.Equal("True", ours["conditions"]![0]!["status"]!.GetValue<string>());
        Assert.NotEqual("1970-01-01T00:00:00Z", ours["conditions"]![0]!["lastTransitionTime"]!.GetValue<string>());
        Assert.Contains(Ancestors(), a => a!["controllerName"]!.GetValue<string>() == "example.com/other");

        JsonArray Ancestors() => _h.Get(FakeResourceType.TrafficPolicies, "apps", "retries")?["status"]?["ancestors"]?.AsArray() ?? [];
    }

    [Fact]
    public async Task A_Listener_The_Translator_Rejects_Gets_No_Pods_And_No_Address()
    {
        await _h.StartReplicaAsync();
        _h.Create(FakeResourceType.Gateways, Objects.Gateway("waypoint", listeners: """[{"name":"hbone","port":15008,"protocol":"HBONE"}]"""));

        await Eventually.TrueAsync(() => ControllerHarness.Condition(_h.Get(FakeResourceType.Gateways, "apps", "waypoint"), "Programmed", "reason") == "Invalid", "status written");
        var gateway = _h.Get(FakeResourceType.Gateways, "apps", "waypoint")!;
        Assert.Equal("ListenersNotValid", ControllerHarness.Condition(gateway, "Accepted", "reason"));
        Assert.Equal("UnsupportedValue", gateway["status"]!["listeners"]![0]!["conditions"]!.AsArray().Single(c => c!["type"]!.GetValue<string>() == "Accepted")!["reason"]!.GetValue<string>());
        Assert.Null(gateway["status"]!["addresses"]);
        Assert.Null(_h.Get(FakeResourceType.Deployments, "apps", "waypoint"));
        Assert.Null(_h.Get(FakeResourceType.ServiceAccounts, "apps", "waypoint"));
    }

    [Fact]
    public async Task A_Class_Called_Like_Ours_But_Owned_By_Another_Controller_Is_Left_Alone()
    {
        _h.Delete(FakeResourceType.GatewayClasses, "", "kgateway-waypoint");
        _h.Create(FakeResourceType.GatewayClasses, Objects.GatewayClass(controller: "example.com/other"));
        _h.Create(FakeResourceType.GatewayClasses, Objects.GatewayClass("mesh-waypoints"));
        _h.Create(FakeResourceType.Gateways, Objects.Gateway("foreign"));
        _h.Create(FakeResourceType.Gateways, Objects.Gateway("waypoint", className: "mesh-waypoints"));
        var replica = await _h.StartReplicaAsync();

        await Eventually.TrueAsync(() => _h.Get(FakeResourceType.Deployments, "apps", "waypoint") is not null, "our class, any name");
        await Eventually.TrueAsync(() => ControllerHarness.Condition(_h.Get(FakeResourceType.GatewayClasses, "", "mesh-waypoints"), "Accepted") == "True", "our class accepted");
        await Eventually.TrueAsync(() => ControllerHarness.Condition(_h.Get(FakeResourceType.Gateways, "apps", "waypoint"), "Accepted") == "True", "our gateway accepted");
        Assert.Null(_h.Get(FakeResourceType.Deployments, "apps", "foreign"));
        Assert.Null(_h.Get(FakeResourceType.Gateways, "apps", "foreign")!["status"]);
        Assert.Null(_h.Get(FakeResourceType.GatewayClasses, "", "kgateway-waypoint")!["status"]);
        Assert.DoesNotContain(new WaypointKey("apps", "foreign"), replica.Publisher.Latest!.Translation.Waypoints.Keys);
    }

    [Fact]
    public async Task A_Translator_Exception_Freezes_Only_Its_Waypoint_Which_Is_Retried_With_Backoff()
    {
        var broken = 1;
        _h.Create(FakeResourceType.Gateways, Objects.Gateway("waypoint"));
        _h.Create(FakeResourceType.Namespaces, Objects.Namespace("other", """{"istio.io/use-waypoint":"second"}"""));
        _h.Create(FakeResourceType.Gateways, Objects.Gateway("second", ns: "other"));
        _h.Create(FakeResourceType.Services, Objects.Service("reviews"));
        var replica = await _h.StartReplicaAsync(configureTranslator: o => o with
        {
            BeforeWaypoint = key =>
            {
                if (Volatile.Read(ref broken) == 2 && key == Waypoint)
                {
                    throw new InvalidOperationException("injected translator failure");
                }
            },
        });
        await Eventually.TrueAsync(() => replica.Publisher.Latest?.Translation.Waypoints.Count == 2, "both published");
        var good = replica.Publisher.Latest!.Translation.Waypoints[Waypoint];

        Volatile.Write(ref broken, 2);
        _h.Create(FakeResourceType.Services, Objects.Service("ratings"));
        _h.Create(FakeResourceType.Services, Objects.Service("details", ns: "other"));
        await Eventually.TrueAsync(() => replica.Publisher.Latest!.Translation.Waypoints[new WaypointKey("other", "second")].Clusters.Any(c => c.Name.Contains("details", StringComparison.Ordinal)), "the other waypoint updates");
        Assert.Equal(good.Version, replica.Publisher.Latest!.Translation.Waypoints[Waypoint].Version);
        Assert.DoesNotContain(replica.Publisher.Latest!.Translation.Waypoints[Waypoint].Clusters, c => c.Name.Contains("ratings", StringComparison.Ordinal));
        await Eventually.TrueAsync(() => replica.Logs.HasEvent("WaypointTranslationFailed"), "failure logged");

        // Nothing changes in the cluster: the retry alone brings the waypoint up to date once translation works.
        Volatile.Write(ref broken, 0);
        await Eventually.TrueAsync(() => replica.Publisher.Latest!.Translation.Waypoints[Waypoint].Clusters.Any(c => c.Name.Contains("ratings", StringComparison.Ordinal)), "retried");
        Assert.Empty(replica.Publisher.Latest!.Translation.Errors);
    }

    [Fact]
    public async Task A_422_On_One_Status_Write_Does_Not_Stop_The_Others()
    {
        _h.Create(FakeResourceType.Gateways, Objects.Gateway("waypoint"));
        _h.Create(FakeResourceType.Services, Objects.Service("reviews"));
        _h.Create(FakeResourceType.HttpRoutes, Objects.HttpRoute("a-rejected", "reviews", "reviews"));
        _h.Create(FakeResourceType.HttpRoutes, Objects.HttpRoute("b-fine", "reviews", "reviews"));
        _h.Create(FakeResourceType.HttpRoutes, Objects.HttpRoute("c-rejected", "reviews", "reviews"));
        _h.Server.FailRequests(r => r.Method == "PUT" && r.Path.Value!.EndsWith("-rejected/status", StringComparison.Ordinal) ? 422 : null);

        var replica = await _h.StartReplicaAsync();

        // Whatever order the pass takes, a write that fails must not stop the writes after it: every route is tried.
        await Eventually.TrueAsync(() => _h.Get(FakeResourceType.HttpRoutes, "apps", "b-fine")?["status"]?["parents"]?.AsArray().Count == 1, "the fine route's status");
        await Eventually.TrueAsync(() => _h.Server.Requests.Any(r => r.StatusCode == 422 && r.Path.Contains("/a-rejected/", StringComparison.Ordinal))
            && _h.Server.Requests.Any(r => r.StatusCode == 422 && r.Path.Contains("/c-rejected/", StringComparison.Ordinal)), "both rejected writes tried");
        await Eventually.TrueAsync(() => replica.Logs.HasEvent("ReconcileFailed"), "failure logged");
    }

    [Fact]
    public async Task Missing_Or_Forbidden_Optional_Crds_Do_Not_Block_The_First_Publish()
    {
        await using var h = await ControllerHarness.StartAsync(output, FakeResourceType.Defaults.Where(t => t != FakeResourceType.ServiceEntries && t != FakeResourceType.ReferenceGrants));
        h.Create(FakeResourceType.GatewayClasses, Objects.GatewayClass());
        h.Create(FakeResourceType.Gateways, Objects.Gateway("waypoint"));
        h.Server.FailRequests(r => r.Path.Value!.Contains("/trafficpolicies", StringComparison.Ordinal) || r.Path.Value.Contains("/waypointparameters", StringComparison.Ordinal) ? 403 : null);

        var replica = await h.StartReplicaAsync();

        Assert.Contains(Waypoint, replica.Publisher.Latest!.Translation.Waypoints.Keys);
        await Eventually.TrueAsync(() => h.Server.CountRequests("GET", "trafficpolicies") >= 3, "looked for again");
        Assert.Single(replica.Logs.Entries, e => e.EventId.Name == "ResourceForbidden" && e.Message.Contains("trafficpolicies", StringComparison.Ordinal));
        Assert.Single(replica.Logs.Entries, e => e.EventId.Name == "ResourceNotServed" && e.Message.Contains("serviceentries", StringComparison.Ordinal));

        // Once RBAC allows it, the kind is picked up.
        h.Server.FailRequests(null);
        h.Create(FakeResourceType.TrafficPolicies, """{"apiVersion":"gateway.kgateway.dev/v1alpha1","kind":"TrafficPolicy","metadata":{"name":"p","namespace":"apps"},"spec":{}}""");
        await Eventually.TrueAsync(() => replica.Publisher.Latest!.Snapshot.TrafficPolicies.Count == 1, "policy seen");
    }

    [Fact]
    public async Task A_Nack_Marks_The_Route_Behind_It_And_The_Rest_Of_The_Waypoint_Keeps_Updating()
    {
        await using var xds = await TestXdsServer.StartAsync();
        _h.Create(FakeResourceType.Gateways, Objects.Gateway("waypoint"));
        _h.Create(FakeResourceType.Services, Objects.Service("reviews"));
        _h.Create(FakeResourceType.HttpRoutes, Objects.HttpRoute("good", "reviews", "reviews"));
        var replica = await _h.StartReplicaAsync(publisher: new XdsConfigPublisher(xds.Cache), xdsStatus: xds.Status);

        // Settled first: the waypoint's own Service is in the snapshot (it binds to no waypoint, so it changes nothing).
        await Eventually.TrueAsync(() => replica.Publisher.Latest!.Snapshot.Services.Any(s => s.Metadata.Name == "waypoint"), "waypoint Service seen");
        using var channel = GrpcChannel.ForAddress(xds.Address);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using var envoy = new SotwAdsTestClient(channel, SotwAdsTestClient.Node("waypoint-pod", Waypoint.ToString()), cts.Token);
        // Envoy asks RDS for the RouteConfigurations main_internal names (one per HTTP chain).
        var routeConfigs = replica.Publisher.Latest!.Translation.Waypoints[Waypoint].Routes.Select(r => r.Name).ToList();
        await envoy.RequestAsync(XdsTypeUrls.RouteConfiguration, routeConfigs);
        var first = await envoy.ReceiveAsync();
        await envoy.AckAsync(first, routeConfigs);

        // A new route: Envoy rejects the RouteConfiguration it ends up in (and accepts whatever came before it).
        _h.Create(FakeResourceType.HttpRoutes, Objects.HttpRoute("bad", "reviews", "reviews"));
        var withBad = await envoy.ReceiveAsync();
        while (!RoutesJson(withBad).Contains("apps.bad.", StringComparison.Ordinal))
        {
            await envoy.AckAsync(withBad, routeConfigs);
            withBad = await envoy.ReceiveAsync();
        }

        var nackSent = Stopwatch.GetTimestamp();
        await envoy.NackAsync(withBad, "Error adding/updating route_config(s) " + routeConfigs.Single(n => n.Contains("|reviews.", StringComparison.Ordinal)) + ": RE2 program size of 332 > max program size of 100 set for the error level threshold", first.VersionInfo, routeConfigs);

        await Eventually.TrueAsync(() => ParentCondition("bad", "Accepted", "reason") == "UnsupportedValue", "the rejected route is reported");
        output.WriteLine($"NACK to HTTPRoute status: {Stopwatch.GetElapsedTime(nackSent).TotalMilliseconds:F0} ms");
        Assert.Contains("RE2 program size of 332", ParentCondition("bad", "Accepted", "message"), StringComparison.Ordinal);
        Assert.Equal("True", ParentCondition("good", "Accepted", "status"));

        // The waypoint is translated again without the rejected route (which is what Envoy still runs), and goes on updating.
        await Eventually.TrueAsync(() => !RouteNames(replica).Any(n => n.Contains(".bad.", StringComparison.Ordinal)), "translated without the rejected route");
        _h.Create(FakeResourceType.HttpRoutes, Objects.HttpRoute("later", "reviews", "reviews"));
        string withLater;
        do
        {
            // The server may first send the configuration without the rejected route; Envoy accepts each.
            var response = await envoy.ReceiveAsync();
            await envoy.AckAsync(response, routeConfigs);
            withLater = RoutesJson(response);
            Assert.DoesNotContain("apps.bad.", withLater, StringComparison.Ordinal);
        }
        while (!withLater.Contains("apps.later.", StringComparison.Ordinal));

        Assert.Contains("apps.later.", withLater, StringComparison.Ordinal);
        Assert.Contains("apps.good.", withLater, StringComparison.Ordinal);
        Assert.DoesNotContain("apps.bad.", withLater, StringComparison.Ordinal);
        Assert.Equal("True", ControllerHarness.Condition(_h.Get(FakeResourceType.Gateways, "apps", "waypoint"), "Accepted"));

        // Editing the route (a new generation) gives it another chance.
        _h.Patch(FakeResourceType.HttpRoutes, "apps", "bad", """{"spec":{"rules":[{"backendRefs":[{"name":"reviews","port":8080}],"matches":[{"path":{"type":"PathPrefix","value":"/fixed"}}]}]}}""");
        await Eventually.TrueAsync(() => RouteNames(replica).Any(n => n.Contains(".bad.", StringComparison.Ordinal)), "edited route published");
        await Eventually.TrueAsync(() => ParentCondition("bad", "Accepted", "status") == "True", "edited route accepted");
    }

    [Fact]
    public async Task A_Nack_Only_The_Gateway_Accounts_For_Sets_Programmed_False_With_Envoys_Message()
    {
        await using var xds = await TestXdsServer.StartAsync();
        _h.Create(FakeResourceType.Gateways, Objects.Gateway("waypoint"));
        await _h.StartReplicaAsync(publisher: new XdsConfigPublisher(xds.Cache), xdsStatus: xds.Status);

        using var channel = GrpcChannel.ForAddress(xds.Address);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using var envoy = new SotwAdsTestClient(channel, SotwAdsTestClient.Node("waypoint-pod", Waypoint.ToString()), cts.Token);
        // The controller creates the waypoint's own Service. The namespace's label does not bind it to the waypoint (a
        // waypoint's Service has no waypoint, as istiod decides), so it leaves the configuration, and with it a
        // Gateway-level rejection (which the next change would clear), alone.
        await Eventually.TrueAsync(() => _h.Get(FakeResourceType.Services, "apps", "waypoint") is not null, "the waypoint's Service created");
        await envoy.RequestAsync(XdsTypeUrls.Cluster);
        var clusters = await envoy.ReceiveAsync();
        Assert.DoesNotContain(clusters.Resources, r => r.Unpack<Envoy.Config.Cluster.V3.Cluster>().Name.Contains("waypoint.apps.", StringComparison.Ordinal));

        await envoy.NackAsync(clusters, "Error adding/updating cluster(s) connect_originate: bad TLS context");

        await Eventually.TrueAsync(() => ControllerHarness.Condition(_h.Get(FakeResourceType.Gateways, "apps", "waypoint"), "Programmed", "message")?.Contains("bad TLS context", StringComparison.Ordinal) == true, "gateway reports Envoy's error");
        Assert.Equal("Invalid", ControllerHarness.Condition(_h.Get(FakeResourceType.Gateways, "apps", "waypoint"), "Programmed", "reason"));
    }

    private static string RoutesJson(DiscoveryResponse response) =>
        string.Join("\n", response.Resources.Select(r => EnvoyJson.Format(r.Unpack<Envoy.Config.Route.V3.RouteConfiguration>())));

    private static List<string> RouteNames(ControllerHarness.Replica replica) =>
        PublishedRoutes(replica).Select(r => r["name"]!.GetValue<string>()).ToList();

    /// <summary>The routes of the waypoint's RouteConfigurations (served over RDS) in the latest publish.</summary>
    private static List<JsonNode> PublishedRoutes(ControllerHarness.Replica replica) =>
        replica.Publisher.Latest!.Translation.Waypoints[Waypoint].Routes
            .Select(r => JsonNode.Parse(EnvoyJson.Format(r))!)
            .SelectMany(r => r["virtualHosts"]!.AsArray())
            .SelectMany(v => v!["routes"]!.AsArray())
            .Select(r => r!)
            .ToList();

    private string? ParentCondition(string route, string type, string field) =>
        (_h.Get(FakeResourceType.HttpRoutes, "apps", route)?["status"]?["parents"]?.AsArray()
            .FirstOrDefault(p => p!["controllerName"]!.GetValue<string>() == ControllerHarness.ControllerName)?["conditions"] as JsonArray)
            ?.FirstOrDefault(c => c!["type"]!.GetValue<string>() == type)?[field]?.GetValue<string>();
}
