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
/// AuthorizationPolicies through the controller: watched (an optional CRD), translated into the published xDS, and
/// given the translator's ancestor status under our controller name while the rest of their status stays.
/// </summary>
public sealed class AuthorizationPolicyControllerTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly WaypointKey Waypoint = new("apps", "waypoint");
    private ControllerHarness _h = null!;

    public async Task InitializeAsync()
    {
        _h = await WaypointNamespace.StartAsync(output, WaypointNamespace.WithSecurityTypes);
    }

    public async Task DisposeAsync() => await _h.DisposeAsync();

    [Fact]
    public async Task A_Deny_Policy_Reaches_The_Published_Routes_And_Its_Status_Keeps_Istios_Own_Fields()
    {
        _h.Create(FakeResourceType.Gateways, Objects.Gateway("waypoint"));
        _h.Create(FakeResourceType.Services, Objects.Service("reviews"));
        _h.Create(FakeResourceType.AuthorizationPolicies, """
            {"apiVersion":"security.istio.io/v1","kind":"AuthorizationPolicy","metadata":{"name":"no-delete","namespace":"apps","generation":1},
             "spec":{"targetRefs":[{"kind":"Service","group":"","name":"reviews"}],"action":"DENY",
                     "rules":[{"to":[{"operation":{"methods":["DELETE"],"paths":["/users/{*}"]}}]}]}}
            """);
        var policy = _h.Get(FakeResourceType.AuthorizationPolicies, "apps", "no-delete")!;
        policy["status"] = JsonNode.Parse("""
            {"conditions":[{"type":"WaypointAccepted","status":"True","reason":"Accepted","message":"istiod"}],
             "ancestors":[{"ancestorRef":{"group":"gateway.networking.k8s.io","kind":"Gateway","name":"elsewhere"},"controllerName":"example.com/other",
              "conditions":[{"type":"WaypointAccepted","status":"True","reason":"Accepted","message":"","lastTransitionTime":"2026-01-01T00:00:00Z"}]}]}
            """);
        _h.Patch(FakeResourceType.AuthorizationPolicies, "apps", "no-delete", policy.ToJsonString(), status: true);

        var replica = await _h.StartReplicaAsync();

        await Eventually.TrueAsync(() => replica.Publisher.Latest?.Translation.Waypoints.ContainsKey(Waypoint) == true, "waypoint published");
        var routes = replica.Publisher.Latest!.Translation.Waypoints[Waypoint].Routes;
        var denyAll = Assert.Single(routes).VirtualHosts.Single().TypedPerFilterConfig["waypoint.authz.deny"];
        Assert.Contains("deny-all", denyAll.Value.ToStringUtf8(), StringComparison.Ordinal); // the path template fails closed

        await Eventually.TrueAsync(() => Ancestors().Count == 2, "our ancestor written");
        var ours = Ancestors().Single(a => a!["controllerName"]!.GetValue<string>() == ControllerHarness.ControllerName)!;
        Assert.Equal("waypoint", ours["ancestorRef"]!["name"]!.GetValue<string>());
        var condition = ours["conditions"]![0]!;
        Assert.Equal(("WaypointAccepted", "False", "Invalid"), (condition["type"]!.GetValue<string>(), condition["status"]!.GetValue<string>(), condition["reason"]!.GetValue<string>()));
        Assert.Contains("spec.rules[0].to[0].operation.paths", condition["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.NotEqual("1970-01-01T00:00:00Z", condition["lastTransitionTime"]!.GetValue<string>());
        var status = _h.Get(FakeResourceType.AuthorizationPolicies, "apps", "no-delete")!["status"]!;
        Assert.Equal("istiod", status["conditions"]![0]!["message"]!.GetValue<string>());
        Assert.Contains(Ancestors(), a => a!["controllerName"]!.GetValue<string>() == "example.com/other");

        JsonArray Ancestors() => _h.Get(FakeResourceType.AuthorizationPolicies, "apps", "no-delete")?["status"]?["ancestors"]?.AsArray() ?? [];
    }

    [Fact]
    public async Task A_RequestAuthentication_Adds_Jwt_Validation_And_Gets_Its_Ancestor_Status()
    {
        _h.Create(FakeResourceType.Gateways, Objects.Gateway("waypoint"));
        _h.Create(FakeResourceType.Services, Objects.Service("reviews"));
        _h.Create(FakeResourceType.RequestAuthentications, """
            {"apiVersion":"security.istio.io/v1","kind":"RequestAuthentication","metadata":{"name":"jwt","namespace":"apps","generation":1},
             "spec":{"targetRefs":[{"kind":"Gateway","group":"gateway.networking.k8s.io","name":"waypoint"}],
                     "jwtRules":[{"issuer":"https://issuer.example.com","jwksUri":"https://issuer.example.com/jwks"}]}}
            """);
        var replica = await _h.StartReplicaAsync();

        await Eventually.TrueAsync(() => replica.Publisher.Latest?.Translation.Waypoints.ContainsKey(Waypoint) == true, "waypoint published");
        Assert.Contains(replica.Publisher.Latest!.Translation.Waypoints[Waypoint].Clusters, c => c.Name == "jwks|issuer.example.com|443");
        await Eventually.TrueAsync(
            () => _h.Get(FakeResourceType.RequestAuthentications, "apps", "jwt")?["status"]?["ancestors"]?[0]?["conditions"]?[0]?["status"]?.GetValue<string>() == "True",
            "our ancestor written");
    }

    [Fact]
    public async Task A_Custom_Policy_Denies_Until_The_Mesh_Config_Names_Its_Provider_Then_Asks_It()
    {
        _h.Create(FakeResourceType.Gateways, Objects.Gateway("waypoint"));
        _h.Create(FakeResourceType.Services, Objects.Service("reviews"));
        _h.Create(FakeResourceType.AuthorizationPolicies, """
            {"apiVersion":"security.istio.io/v1","kind":"AuthorizationPolicy","metadata":{"name":"ext","namespace":"apps","generation":1},
             "spec":{"targetRefs":[{"kind":"Service","group":"","name":"reviews"}],"action":"CUSTOM","provider":{"name":"authz-http"},
                     "rules":[{"to":[{"operation":{"paths":["/admin*"]}}]}]}}
            """);
        var replica = await _h.StartReplicaAsync();

        await Eventually.TrueAsync(() => Condition()?["status"]?.GetValue<string>() == "False", "denied for want of a provider");
        Assert.Contains("provider 'authz-http' is unknown", Condition()!["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Contains("istio-system/istio", Condition()!["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Contains("deny-all", replica.Publisher.Latest!.Translation.Waypoints[Waypoint].Routes.Single(r => r.Name.Contains("reviews", StringComparison.Ordinal)).VirtualHosts.Single().TypedPerFilterConfig["waypoint.authz.deny"].Value.ToStringUtf8(), StringComparison.Ordinal);

        _h.Create(FakeResourceType.ConfigMaps, """
            {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"istio","namespace":"istio-system"},
             "data":{"mesh":"extensionProviders:\n- name: authz-http\n  envoyExtAuthzHttp:\n    service: authz.example.com\n    port: 8000\n"}}
            """);

        await Eventually.TrueAsync(() => Condition()?["status"]?.GetValue<string>() == "True", "accepted once the provider is known");
        var published = replica.Publisher.Latest!.Translation.Waypoints[Waypoint];
        Assert.Contains(published.Clusters, c => c.Name == "ext-authz|authz.example.com|8000");
        var vhost = published.Routes.Single(r => r.Name.Contains("reviews", StringComparison.Ordinal)).VirtualHosts.Single();
        Assert.DoesNotContain("waypoint.authz.deny", vhost.TypedPerFilterConfig.Keys);
        Assert.Contains(vhost.TypedPerFilterConfig.Keys, k => k.StartsWith("waypoint.authz.custom.authz_http_", StringComparison.Ordinal));

        JsonNode? Condition() => _h.Get(FakeResourceType.AuthorizationPolicies, "apps", "ext")?["status"]?["ancestors"]?[0]?["conditions"]?[0];
    }

    [Fact]
    public async Task A_Nack_Of_A_Policys_Routes_Sets_It_WaypointAccepted_False_It_Fails_Closed_And_The_Waypoint_Keeps_Updating()
    {
        // The shape of Envoy 1.40's message for the policy AuthorizationNackEnvoyTests sends it (a when header name with a line break).
        const string EnvoyError = "Proto constraint validation failed (HeaderMatcherValidationError.Name: value does not match regex pattern \"^[^\\x00\\n\\r]*$\")";
        await using var xds = await TestXdsServer.StartAsync();
        _h.Create(FakeResourceType.Gateways, Objects.Gateway("waypoint"));
        _h.Create(FakeResourceType.Services, Objects.Service("reviews"));
        _h.Create(FakeResourceType.AuthorizationPolicies, Policy("allow-all", "ALLOW", "[{}]"));
        var replica = await _h.StartReplicaAsync(publisher: new XdsConfigPublisher(xds.Cache), xdsStatus: xds.Status);
        await Eventually.TrueAsync(() => replica.Publisher.Latest!.Snapshot.Services.Any(s => s.Metadata.Name == "waypoint"), "waypoint Service seen");
        await Eventually.TrueAsync(() => Condition("allow-all", "status") == "True", "first policy accepted");

        using var channel = GrpcChannel.ForAddress(xds.Address);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using var envoy = new SotwAdsTestClient(channel, SotwAdsTestClient.Node("waypoint-pod", Waypoint.ToString()), cts.Token);
        var routeConfigs = replica.Publisher.Latest!.Translation.Waypoints[Waypoint].Routes.Select(r => r.Name).ToList();
        await envoy.RequestAsync(XdsTypeUrls.RouteConfiguration, routeConfigs);
        var first = await envoy.ReceiveAsync();
        await envoy.AckAsync(first, routeConfigs);

        _h.Create(FakeResourceType.AuthorizationPolicies, Policy("block", "DENY", """[{"to":[{"operation":{"methods":["DELETE"]}}]}]"""));
        var withBlock = await envoy.ReceiveAsync();
        while (!RoutesText(withBlock).Contains("policy[block]-rule[0]", StringComparison.Ordinal))
        {
            await envoy.AckAsync(withBlock, routeConfigs);
            withBlock = await envoy.ReceiveAsync();
        }

        await envoy.NackAsync(withBlock, EnvoyError, first.VersionInfo, routeConfigs);

        await Eventually.TrueAsync(() => Condition("block", "status") == "False", "the rejected policy is reported");
        Assert.Equal("Invalid", Condition("block", "reason"));
        Assert.Contains("Envoy rejected the configuration made from this object: " + EnvoyError, Condition("block", "message"), StringComparison.Ordinal);
        Assert.Contains("deny-all", Condition("block", "message"), StringComparison.Ordinal);
        Assert.Equal("True", Condition("allow-all", "status")); // unchanged since the last configuration Envoy took: not a suspect

        // Fails closed: the DENY is not dropped but turned into a deny-all of its targets.
        await Eventually.TrueAsync(() => DenyConfig(replica).Contains("policy[block]-deny-all", StringComparison.Ordinal), "translated as deny-all");
        Assert.DoesNotContain("policy[block]-rule[0]", DenyConfig(replica), StringComparison.Ordinal);

        // The rest of the waypoint keeps updating: a new policy is published next to the rejected one's deny-all.
        _h.Create(FakeResourceType.AuthorizationPolicies, Policy("later", "DENY", """[{"to":[{"operation":{"methods":["PATCH"]}}]}]"""));
        await Eventually.TrueAsync(() => DenyConfig(replica).Contains("policy[later]-rule[0]", StringComparison.Ordinal), "later policy published");
        Assert.Contains("policy[block]-deny-all", DenyConfig(replica), StringComparison.Ordinal);
        await Eventually.TrueAsync(() => Condition("later", "status") == "True", "later policy accepted");

        // Editing the rejected policy (a new generation) gives it another chance.
        _h.Patch(FakeResourceType.AuthorizationPolicies, "apps", "block", """{"spec":{"rules":[{"to":[{"operation":{"methods":["PUT"]}}]}]}}""");
        await Eventually.TrueAsync(() => Condition("block", "status") == "True", "edited policy accepted");
        Assert.Contains("policy[block]-rule[0]", DenyConfig(replica), StringComparison.Ordinal);

        string? Condition(string name, string field) =>
            _h.Get(FakeResourceType.AuthorizationPolicies, "apps", name)?["status"]?["ancestors"]?[0]?["conditions"]?[0]?[field]?.GetValue<string>();
    }

    private static string Policy(string name, string action, string rules) => $$$"""
        {"apiVersion":"security.istio.io/v1","kind":"AuthorizationPolicy","metadata":{"name":"{{{name}}}","namespace":"apps","generation":1},
         "spec":{"targetRefs":[{"kind":"Service","group":"","name":"reviews"}],"action":"{{{action}}}","rules":{{{rules}}}}}
        """;

    /// <summary>The response's RouteConfigurations as raw bytes: policy ids are strings in them, whatever the nesting.</summary>
    private static string RoutesText(DiscoveryResponse response) =>
        string.Join("\n", response.Resources.Select(r => r.Value.ToStringUtf8()));

    /// <summary>The DENY filter's per-virtual-host config of the reviews chain, as published.</summary>
    private static string DenyConfig(ControllerHarness.Replica replica) =>
        replica.Publisher.Latest!.Translation.Waypoints[Waypoint].Routes
            .Single(r => r.Name.Contains("reviews", StringComparison.Ordinal))
            .VirtualHosts.Single().TypedPerFilterConfig.TryGetValue("waypoint.authz.deny", out var deny) ? deny.Value.ToStringUtf8() : "";

    [Fact]
    public async Task Without_The_Crd_The_Waypoint_Is_Still_Published()
    {
        await using var h = await ControllerHarness.StartAsync(output);
        h.Create(FakeResourceType.Namespaces, Objects.Namespace("apps", """{"istio.io/use-waypoint":"waypoint"}"""));
        h.Create(FakeResourceType.GatewayClasses, Objects.GatewayClass());
        h.Create(FakeResourceType.Gateways, Objects.Gateway("waypoint"));
        h.Create(FakeResourceType.Services, Objects.Service("reviews"));
        var replica = await h.StartReplicaAsync();

        await Eventually.TrueAsync(() => replica.Publisher.Latest?.Translation.Waypoints.ContainsKey(Waypoint) == true, "waypoint published");
        Assert.Empty(replica.Publisher.Latest!.Snapshot.AuthorizationPolicies);
    }
}
