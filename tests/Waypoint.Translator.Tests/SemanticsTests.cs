using Waypoint.Translator.Model;
using static Waypoint.Translator.Tests.TranslatorTestData;

namespace Waypoint.Translator.Tests;

/// <summary>The translator as the one judge of Gateway semantics, per-waypoint isolation, and NACK feedback.</summary>
public sealed class SemanticsTests
{
    private static readonly WaypointKey Key = new("app", "waypoint");

    private const string OtherWaypoint = """

        ---
        apiVersion: gateway.networking.k8s.io/v1
        kind: Gateway
        metadata: {name: second, namespace: app, generation: 1}
        spec:
          gatewayClassName: kgateway-waypoint
          listeners: [{name: mesh, port: 15008, protocol: HBONE}]
        """;

    [Fact]
    public void A_Class_Named_Like_Ours_But_Owned_By_Another_Controller_Is_Not_Ours()
    {
        var yaml = Base.Replace("controllerName: waypoint.dev/controller", "controllerName: example.com/other", StringComparison.Ordinal) + Service("echo", "10.0.0.1");

        var result = new WaypointTranslator().Translate(Load(yaml));

        Assert.Empty(result.Waypoints);
        Assert.Empty(result.Gateways);
        Assert.Empty(result.GatewayClasses);
    }

    [Fact]
    public void A_Class_Of_Any_Name_That_Names_Our_Controller_Is_Ours_And_Accepted()
    {
        var yaml = Base.Replace("name: kgateway-waypoint", "name: mesh-waypoints", StringComparison.Ordinal)
            .Replace("gatewayClassName: kgateway-waypoint", "gatewayClassName: mesh-waypoints", StringComparison.Ordinal);

        var result = new WaypointTranslator().Translate(Load(yaml));

        Assert.Contains(Key, result.Waypoints.Keys);
        var gatewayClass = Assert.Single(result.GatewayClasses);
        Assert.Equal("mesh-waypoints", gatewayClass.Name);
        Assert.Equal(("True", "Accepted"), (gatewayClass.Conditions.Single().Status, gatewayClass.Conditions.Single().Reason));
    }

    [Theory]
    [InlineData("[{name: hbone, port: 15008, protocol: HBONE}]", "UnsupportedValue")]
    [InlineData("[{name: mesh, port: 15008, protocol: HBONE, hostname: x.example}]", "UnsupportedValue")]
    [InlineData("[{name: mesh, port: 15009, protocol: HBONE}]", "PortUnavailable")]
    public void A_Gateway_Without_A_Valid_Mesh_Listener_Is_No_Waypoint(string listeners, string reason)
    {
        var yaml = Base.Replace("listeners: [{name: mesh, port: 15008, protocol: HBONE}]", "listeners: " + listeners, StringComparison.Ordinal);

        var result = new WaypointTranslator().Translate(Load(yaml));

        Assert.Empty(result.Waypoints);
        var status = result.Gateways.Single();
        Assert.Equal(("False", "ListenersNotValid"), (status.Conditions.Single().Status, status.Conditions.Single().Reason));
        Assert.Equal(reason, status.Listeners.Single().Conditions.Single(c => c.Type == "Accepted").Reason);
    }

    [Fact]
    public void Spec_Addresses_And_Missing_Parameters_Are_Not_Accepted()
    {
        var withAddress = Base.Replace("  gatewayClassName: kgateway-waypoint", "  gatewayClassName: kgateway-waypoint\n  addresses: [{value: 10.0.0.9}]", StringComparison.Ordinal);
        var withParameters = Base.Replace("  gatewayClassName: kgateway-waypoint",
            "  gatewayClassName: kgateway-waypoint\n  infrastructure: {parametersRef: {group: gateway.kgateway.dev, kind: WaypointParameters, name: big}}", StringComparison.Ordinal);

        var address = new WaypointTranslator().Translate(Load(withAddress));
        var missing = new WaypointTranslator().Translate(Load(withParameters));
        var present = new WaypointTranslator().Translate(Load(withParameters) with
        {
            WaypointParameters = [new V1alpha1WaypointParameters { Metadata = new() { Name = "big", NamespaceProperty = "app" } }],
        });

        Assert.Empty(address.Waypoints);
        Assert.Equal("UnsupportedAddress", address.Gateways.Single().Conditions.Single().Reason);
        Assert.Empty(missing.Waypoints);
        Assert.Equal("InvalidParameters", missing.Gateways.Single().Conditions.Single().Reason);
        Assert.Contains("app/big", missing.Gateways.Single().Conditions.Single().Message, StringComparison.Ordinal);
        Assert.Contains(Key, present.Waypoints.Keys);
    }

    [Fact]
    public void A_Waypoint_Whose_Translation_Throws_Keeps_Its_Last_Good_Resources_And_The_Others_Update()
    {
        var fail = false;
        var translator = new WaypointTranslator(new TranslatorOptions
        {
            BeforeWaypoint = key =>
            {
                if (fail && key == Key)
                {
                    throw new InvalidOperationException("boom");
                }
            },
        });
        var second = new WaypointKey("app", "second");
        var before = Base + OtherWaypoint + Service("echo", "10.0.0.1");
        var after = before + Service("more", "10.0.0.2", labels: "{istio.io/use-waypoint: second}") + Service("echo-2", "10.0.0.3");
        var good = translator.Translate(Load(before));

        fail = true;
        var changed = translator.Translate(Load(after));

        var error = Assert.Single(changed.Errors);
        Assert.Equal(Key, error.Waypoint);
        Assert.Equal("boom", error.Exception.Message);
        Assert.Same(good.Waypoints[Key], changed.Waypoints[Key]);
        Assert.NotEqual(good.Waypoints[second].Version, changed.Waypoints[second].Version);

        fail = false;
        var recovered = translator.Translate(Load(after));
        Assert.Empty(recovered.Errors);
        Assert.NotEqual(good.Waypoints[Key].Version, recovered.Waypoints[Key].Version);
        Assert.Equal(changed.Waypoints[second].Version, recovered.Waypoints[second].Version);
    }

    [Theory]
    [InlineData("{gateway.networking.k8s.io/gateway-name: waypoint}")]
    [InlineData("{gateway.istio.io/managed: istio.io-mesh-controller}")]
    public void A_Waypoints_Own_Service_Is_Not_Bound_To_A_Waypoint_Though_Its_Namespace_Uses_One(string labels)
    {
        var waypointService = Service("waypoint", "10.0.0.9", labels: labels, ports: "[{name: mesh, port: 15008}, {name: status-port, port: 15021}]");
        var yaml = Base + Service("echo", "10.0.0.1") + waypointService;

        var resources = new WaypointTranslator().Translate(Load(yaml)).Waypoints[Key];

        var routes = resources.Routes.Select(r => r.Name).ToList();
        Assert.Contains(routes, r => r.Contains("echo.app", StringComparison.Ordinal));
        Assert.DoesNotContain(routes, r => r.Contains("waypoint.app", StringComparison.Ordinal));
        Assert.DoesNotContain(resources.Clusters, c => c.Name.Contains("waypoint.app", StringComparison.Ordinal));
    }

    [Fact]
    public void A_Gateway_Name_Label_Of_A_Gateway_That_Is_No_Waypoint_Leaves_The_Binding_Alone()
    {
        var yaml = Base + Service("echo", "10.0.0.1", labels: "{gateway.networking.k8s.io/gateway-name: ingress}");

        var resources = new WaypointTranslator().Translate(Load(yaml)).Waypoints[Key];

        Assert.Contains(resources.Routes, r => r.Name.Contains("echo.app", StringComparison.Ordinal));
    }

    [Fact]
    public void Main_Internal_Names_The_Routes_And_Policies_It_Was_Made_From()
    {
        var yaml = Base + Service("echo", "10.0.0.1") + Route("echo-route", """
              parentRefs: [{group: "", kind: Service, name: echo}]
              rules: [{backendRefs: [{name: echo, port: 80}]}]
            """);

        var resources = new WaypointTranslator().Translate(Load(yaml)).Waypoints[Key];

        Assert.Equal(
            [new SourceObject("Gateway", "app", "waypoint"), new SourceObject("HTTPRoute", "app", "echo-route")],
            resources.SourcesOf("type.googleapis.com/envoy.config.listener.v3.Listener", "main_internal"));
        Assert.Equal([new SourceObject("Gateway", "app", "waypoint")], resources.SourcesOf("type.googleapis.com/envoy.config.cluster.v3.Cluster", "connect_originate"));
    }

    [Fact]
    public void A_Route_Envoy_Rejected_Is_Reported_And_Left_Out_Until_It_Is_Edited()
    {
        var yaml = Base + Service("echo", "10.0.0.1") + Route("bad", """
              parentRefs: [{group: "", kind: Service, name: echo}]
              rules: [{backendRefs: [{name: echo, port: 80}]}]
            """).Replace("name: bad, namespace: app", "name: bad, namespace: app, generation: 3", StringComparison.Ordinal);
        var snapshot = Load(yaml);
        var translator = new WaypointTranslator();
        var before = translator.Translate(snapshot);

        var rejected = translator.Translate(snapshot with { EnvoyRejections = [new EnvoyRejection("HTTPRoute", "app", "bad", 3, "RE2 program size of 332 > max program size of 100")] });
        var edited = translator.Translate(snapshot with { EnvoyRejections = [new EnvoyRejection("HTTPRoute", "app", "bad", 2, "an older generation")] });

        var accepted = rejected.Routes.Single().Parents.Single().Conditions.Single(c => c.Type == "Accepted");
        Assert.Equal(("False", "UnsupportedValue"), (accepted.Status, accepted.Reason));
        Assert.Contains("RE2 program size of 332", accepted.Message, StringComparison.Ordinal);
        Assert.NotEqual(before.Waypoints[Key].Version, rejected.Waypoints[Key].Version);
        Assert.Equal(before.Waypoints[Key].Version, edited.Waypoints[Key].Version);
    }

    [Fact]
    public void A_TrafficPolicy_Envoy_Rejected_Is_Invalid_And_Not_Applied()
    {
        var yaml = Base + Service("echo", "10.0.0.1") + Route("echo", """
              parentRefs: [{group: "", kind: Service, name: echo}]
              rules: [{backendRefs: [{name: echo, port: 80}]}]
            """) + """

            ---
            apiVersion: gateway.kgateway.dev/v1alpha1
            kind: TrafficPolicy
            metadata: {name: retries, namespace: app, generation: 2}
            spec:
              targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: echo}]
              retry: {retryOn: [5xx], attempts: 7}
            """;
        var snapshot = Load(yaml);

        var applied = new WaypointTranslator().Translate(snapshot);
        var rejected = new WaypointTranslator().Translate(snapshot with { EnvoyRejections = [new EnvoyRejection("TrafficPolicy", "app", "retries", 2, "invalid retry policy")] });

        Assert.Contains("\"numRetries\": 7", EnvoyJson.Format(applied.Waypoints[Key]), StringComparison.Ordinal);
        Assert.DoesNotContain("\"numRetries\": 7", EnvoyJson.Format(rejected.Waypoints[Key]), StringComparison.Ordinal);
        var condition = rejected.Policies.Single().Ancestors.Single().Conditions.Single();
        Assert.Equal(("False", "Invalid"), (condition.Status, condition.Reason));
        Assert.Contains("invalid retry policy", condition.Message, StringComparison.Ordinal);
    }
}
