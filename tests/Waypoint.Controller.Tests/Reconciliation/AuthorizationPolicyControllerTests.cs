using System.Text.Json.Nodes;
using Waypoint.Controller.Tests.Infrastructure;
using Waypoint.TestKit.Kubernetes;
using Waypoint.Translator;
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
        _h = await ControllerHarness.StartAsync(output, FakeResourceType.Defaults.Append(FakeResourceType.AuthorizationPolicies).Append(FakeResourceType.RequestAuthentications));
        _h.Create(FakeResourceType.Namespaces, Objects.Namespace("apps", """{"istio.io/use-waypoint":"waypoint"}"""));
        _h.Create(FakeResourceType.GatewayClasses, Objects.GatewayClass());
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
