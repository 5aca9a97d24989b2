using Envoy.Config.Listener.V3;
using Envoy.Config.Route.V3;
using Envoy.Extensions.Filters.Network.HttpConnectionManager.V3;
using Google.Protobuf;
using Waypoint.Benchmarks;
using Waypoint.Transformation.Compilation;
using Waypoint.Translator.Internal;
using Waypoint.Translator.Model;
using static Waypoint.Translator.Tests.TranslatorTestData;

namespace Waypoint.Translator.Tests;

public sealed class TranslatorTests
{
    private static readonly WaypointKey Key = new("app", "waypoint");

    [Fact]
    public void WaypointKey_ToString_Is_Name_Dot_Namespace() => Assert.Equal("waypoint.app", Key.ToString());

    [Fact]
    public void Binding_ServiceLabel_Beats_NamespaceLabel_And_None_OptsOut()
    {
        var snapshot = Load(Base
            + Service("plain", "10.0.0.1")
            + Service("opted-out", "10.0.0.2", labels: "{istio.io/use-waypoint: none}")
            + Service("elsewhere", "10.0.0.3", labels: "{istio.io/use-waypoint: other}"));

        var result = new WaypointTranslator().Translate(snapshot);

        Assert.Equal(["app/plain"], result.Gateways.Single().BoundServices);
        Assert.Single(result.Waypoints);
    }

    [Fact]
    public void Binding_CrossNamespace_Requires_AllowedRoutes()
    {
        const string yaml = """
            apiVersion: v1
            kind: Namespace
            metadata: {name: infra, labels: {team: platform}}
            ---
            apiVersion: gateway.networking.k8s.io/v1
            kind: GatewayClass
            metadata: {name: kgateway-waypoint}
            spec: {controllerName: waypoint.dev/controller}
            ---
            apiVersion: v1
            kind: Namespace
            metadata: {name: app, labels: {istio.io/use-waypoint: wp, istio.io/use-waypoint-namespace: infra, team: shop}}
            ---
            apiVersion: gateway.networking.k8s.io/v1
            kind: Gateway
            metadata: {name: wp, namespace: infra}
            spec:
              gatewayClassName: kgateway-waypoint
              listeners:
              - name: mesh
                port: 15008
                protocol: HBONE
                allowedRoutes: {namespaces: {from: Selector, selector: {matchLabels: {team: shop}}}}
            """;

        var allowed = new WaypointTranslator().Translate(Load(yaml + Service("echo", "10.0.0.1")));
        var refused = new WaypointTranslator().Translate(Load(yaml.Replace("team: shop}}}}", "team: other}}}}", StringComparison.Ordinal) + Service("echo", "10.0.0.1")));

        Assert.Equal(["app/echo"], allowed.Gateways.Single().BoundServices);
        Assert.Empty(refused.Gateways.Single().BoundServices);
    }

    [Theory]
    [InlineData(null, "http", "Http")]
    [InlineData(null, "http-web", "Http")]
    [InlineData(null, "grpc-api", "Http2")]
    [InlineData(null, "http2", "Http2")]
    [InlineData(null, "tcp-db", "Tcp")]
    [InlineData(null, "tls", "Tcp")]
    [InlineData(null, "mysql", "Tcp")]
    [InlineData(null, "web", "Auto")]
    [InlineData(null, null, "Auto")]
    [InlineData("grpc", "tcp", "Http2")]
    [InlineData("kubernetes.io/h2c", null, "Http2")]
    [InlineData("HTTP", "tcp", "Http")]
    [InlineData("custom.example/x", "http", "Http")]
    public void Protocol_AppProtocol_Then_PortName_Else_Sniffed(string? appProtocol, string? name, string expected) =>
        Assert.Equal(expected, Protocols.Detect(appProtocol, name).ToString());

    [Theory]
    [InlineData("10s", 10_000)]
    [InlineData("500ms", 500)]
    [InlineData("1h30m", 5_400_000)]
    [InlineData("0s", 0)]
    public void Durations_Parse_GatewayApi_Format(string text, int milliseconds)
    {
        Assert.True(GatewayDuration.TryParse(text, out var value));
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), value);
    }

    [Theory]
    [InlineData("10")]
    [InlineData("1.5s")]
    [InlineData("-1s")]
    [InlineData("1d")]
    [InlineData("")]
    public void Durations_Reject_Invalid(string text) => Assert.False(GatewayDuration.TryParse(text, out _));

    [Theory]
    [InlineData("/api/[0-9]+", true)]
    [InlineData("/(?=x)", false)]
    [InlineData("(a)\\1", false)]
    [InlineData("/[", false)]
    public void Regex_Must_Be_Re2(string pattern, bool valid) => Assert.Equal(valid, RouteCompiler.Re2Problem(pattern, 4096) is null);

    [Fact]
    public void Routes_Are_Ordered_By_GatewayApi_Precedence_ServiceParented_Before_GatewayParented()
    {
        var snapshot = Load(Base + Service("echo", "10.0.0.1")
            + Route("gateway-wide", """
                  parentRefs: [{name: waypoint}]
                  rules:
                  - matches: [{path: {type: Exact, value: /exact-from-gateway}}]
                    backendRefs: [{name: echo, port: 80}]
                """)
            + Route("svc", """
                  parentRefs: [{group: "", kind: Service, name: echo}]
                  rules:
                  - matches: [{path: {type: PathPrefix, value: /a}}]
                    backendRefs: [{name: echo, port: 80}]
                  - matches: [{path: {type: PathPrefix, value: /a/longer}}, {path: {type: Exact, value: /a}}]
                    backendRefs: [{name: echo, port: 80}]
                  - matches: [{path: {type: PathPrefix, value: /a}, headers: [{name: x, value: "1"}]}]
                    backendRefs: [{name: echo, port: 80}]
                """));

        var routes = HttpRoutes(new WaypointTranslator().Translate(snapshot), "inbound-vip|80|http|echo.app.svc.cluster.local");

        Assert.Equal(
            ["app.svc.1.1", "app.svc.1.0", "app.svc.2.0", "app.svc.0.0", "app.gateway-wide.0.0"],
            routes.Select(r => r.Name));
    }

    [Fact]
    public void Bad_Route_Is_Reported_And_Skipped_Neighbours_Apply()
    {
        var snapshot = Load(Base + Service("echo", "10.0.0.1")
            + Route("bad", """
                  parentRefs: [{group: "", kind: Service, name: echo}]
                  rules:
                  - filters: [{type: CORS}]
                    backendRefs: [{name: echo, port: 80}]
                """)
            + Route("good", """
                  parentRefs: [{group: "", kind: Service, name: echo}]
                  rules:
                  - matches: [{path: {type: PathPrefix, value: /good}}]
                    backendRefs: [{name: echo, port: 80}]
                """));

        var result = new WaypointTranslator().Translate(snapshot);

        var bad = result.Routes.Single(r => r.Name == "bad").Parents.Single();
        Assert.Equal("waypoint.dev/controller", bad.ControllerName);
        var accepted = bad.Conditions.Single(c => c.Type == "Accepted");
        Assert.Equal(("False", "UnsupportedValue"), (accepted.Status, accepted.Reason));
        Assert.Contains("CORS", accepted.Message, StringComparison.Ordinal);
        var good = result.Routes.Single(r => r.Name == "good").Parents.Single().Conditions.Single(c => c.Type == "Accepted");
        Assert.Equal("True", good.Status);
        Assert.Equal(["app.good.0.0"], HttpRoutes(result, "inbound-vip|80|http|echo.app.svc.cluster.local").Select(r => r.Name));
    }

    [Fact]
    public void Status_Reasons_For_Backends()
    {
        var snapshot = Load(Base + Service("echo", "10.0.0.1")
            + Service("remote", "10.0.1.1", ns: "other")
            + Route("refs", """
                  parentRefs: [{group: "", kind: Service, name: echo}]
                  rules:
                  - backendRefs: [{name: remote, namespace: other, port: 80}]
                """)
            + Route("missing", """
                  parentRefs: [{group: "", kind: Service, name: echo}]
                  rules:
                  - backendRefs: [{name: nope, port: 80}]
                """)
            + Route("kind", """
                  parentRefs: [{group: "", kind: Service, name: echo}]
                  rules:
                  - backendRefs: [{group: example.com, kind: Bucket, name: b}]
                """));

        var result = new WaypointTranslator().Translate(snapshot);

        string Reason(string route) => result.Routes.Single(r => r.Name == route).Parents.Single().Conditions.Single(c => c.Type == "ResolvedRefs").Reason;
        Assert.Equal("RefNotPermitted", Reason("refs"));
        Assert.Equal("BackendNotFound", Reason("missing"));
        Assert.Equal("InvalidKind", Reason("kind"));
    }

    [Fact]
    public void Output_Is_Independent_Of_Input_Order_And_Instance()
    {
        var snapshot = TranslationSyntheticCluster.Create(50);
        var shuffled = snapshot with
        {
            Services = snapshot.Services.Reverse().ToArray(),
            HttpRoutes = snapshot.HttpRoutes.OrderBy(r => r.Metadata.Name.GetHashCode(StringComparison.Ordinal)).ToArray(),
            EndpointSlices = snapshot.EndpointSlices.Reverse().ToArray(),
            Pods = snapshot.Pods.Reverse().ToArray(),
        };

        var a = new WaypointTranslator().Translate(snapshot).Waypoints[Key];
        var b = new WaypointTranslator().Translate(shuffled).Waypoints[Key];

        Assert.Equal(a.Version, b.Version);
        Assert.Equal(EnvoyJson.Format(a), EnvoyJson.Format(b));
    }

    [Fact]
    public void Parallel_Translation_Equals_Serial_Translation()
    {
        // Enough services that chains, clusters and load assignments are built on several threads.
        var snapshot = TranslationSyntheticCluster.Create(300);
        var changed = TranslationSyntheticCluster.WithChangedRoute(snapshot, 150, "/v2");
        var serial = new WaypointTranslator(new TranslatorOptions { Parallelism = 1 });
        var parallel = new WaypointTranslator(new TranslatorOptions { Parallelism = 4 });

        foreach (var input in new[] { snapshot, changed })
        {
            var a = serial.Translate(input).Waypoints[Key];
            var b = parallel.Translate(input).Waypoints[Key];

            Assert.Equal(a.Version, b.Version);
            Assert.Equal(EnvoyJson.Format(a), EnvoyJson.Format(b));
            Assert.Equal(a.Encoded.Select(e => e.Bytes), b.Encoded.Select(e => e.Bytes));
        }
    }

    [Fact]
    public void Unchanged_Input_Gives_Same_Version_And_Reuses_Resources()
    {
        var snapshot = TranslationSyntheticCluster.Create(20);
        var translator = new WaypointTranslator();

        var first = translator.Translate(snapshot).Waypoints[Key];
        var second = translator.Translate(snapshot).Waypoints[Key];

        Assert.Equal(first.Version, second.Version);
        Assert.All(first.Clusters.Zip(second.Clusters), p => Assert.Equal(p.First, p.Second));
        Assert.All(first.Endpoints.Zip(second.Endpoints), p => Assert.Equal(p.First, p.Second));
        Assert.All(first.Listeners.Zip(second.Listeners), p => Assert.Equal(p.First, p.Second));
        Assert.All(first.Routes.Zip(second.Routes), p => Assert.Equal(p.First, p.Second));
        Assert.All(first.Encoded.Zip(second.Encoded), p => Assert.Same(p.First, p.Second));
        Assert.All(first.Encoded.Zip(second.Encoded), p => Assert.Same(p.First.Bytes, p.Second.Bytes));
    }

    [Fact]
    public void Resources_Keep_Only_Their_Encoding_And_Decode_Messages_On_Each_Read()
    {
        var resources = new WaypointTranslator().Translate(TranslationSyntheticCluster.Create(3)).Waypoints[Key];

        Assert.NotSame(resources.Clusters[0], resources.Clusters[0]);
        Assert.Equal(resources.Clusters[0], resources.Clusters[0]);
        Assert.NotSame(resources.Encoded[0].Message, resources.Encoded[0].Message);
        var mainInternal = EncodedOf(resources, "main_internal");
        Assert.Equal(mainInternal.Bytes, resources.Listeners.Single(l => l.Name == "main_internal").ToByteString());
        Assert.Same(Listener.Parser, mainInternal.Parser);
    }

    [Fact]
    public void Encoded_Resources_Are_The_Resources_Encoding_In_Output_Order()
    {
        var translator = new WaypointTranslator();
        translator.Translate(TranslationSyntheticCluster.Create(12));
        var resources = translator.Translate(TranslationSyntheticCluster.WithChangedRoute(TranslationSyntheticCluster.Create(12), 3, "/v3")).Waypoints[Key];

        var expected = resources.Listeners.Select(l => (TypeUrl: "type.googleapis.com/envoy.config.listener.v3.Listener", l.Name, Message: (IMessage)l))
            .Concat(resources.Routes.Select(r => (TypeUrl: "type.googleapis.com/envoy.config.route.v3.RouteConfiguration", r.Name, Message: (IMessage)r)))
            .Concat(resources.Clusters.Select(c => (TypeUrl: "type.googleapis.com/envoy.config.cluster.v3.Cluster", c.Name, Message: (IMessage)c)))
            .Concat(resources.Endpoints.Select(e => (TypeUrl: "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment", Name: e.ClusterName, Message: (IMessage)e)))
            .ToList();
        Assert.Equal(expected.Count, resources.Encoded.Count);
        Assert.All(expected.Zip(resources.Encoded), p =>
        {
            Assert.Equal(p.First.TypeUrl, p.Second.TypeUrl);
            Assert.Equal(p.First.Name, p.Second.Name);
            Assert.Equal(p.First.Message, p.Second.Message);
            Assert.Equal(p.First.Message.ToByteString(), p.Second.Bytes);
        });
    }

    [Fact]
    public void Changed_Route_Rebuilds_Only_Its_Service_And_Matches_A_Full_Translation()
    {
        var snapshot = TranslationSyntheticCluster.Create(20);
        var translator = new WaypointTranslator();
        var before = translator.Translate(snapshot).Waypoints[Key];

        var changed = TranslationSyntheticCluster.WithChangedRoute(snapshot, 7, "/v2");
        var after = translator.Translate(changed).Waypoints[Key];
        var full = new WaypointTranslator().Translate(changed).Waypoints[Key];

        Assert.NotEqual(before.Version, after.Version);
        Assert.Equal(full.Version, after.Version);
        Assert.Equal(EnvoyJson.Format(full), EnvoyJson.Format(after));

        // Routes come over RDS: the edit changes only the service's RouteConfiguration; main_internal is reused as it is.
        Assert.Equal(MainInternal(before), MainInternal(after));
        Assert.Same(EncodedOf(before, "main_internal"), EncodedOf(after, "main_internal"));
        var routesBefore = before.Encoded.Where(e => e.TypeUrl.EndsWith(".RouteConfiguration", StringComparison.Ordinal)).ToDictionary(e => e.Name);
        var rebuilt = after.Encoded.Where(e => e.TypeUrl.EndsWith(".RouteConfiguration", StringComparison.Ordinal) && !ReferenceEquals(e, routesBefore[e.Name])).Select(e => e.Name).ToList();
        Assert.Equal(["inbound-vip|80|http|svc-7.app.svc.cluster.local"], rebuilt);
        Assert.Equal(
            before.Encoded.Where(e => e.Name != rebuilt[0]).Select(e => e.Bytes),
            after.Encoded.Where(e => e.Name != rebuilt[0]).Select(e => e.Bytes));
    }

    [Fact]
    public void Http_Chains_Take_Their_Routes_Over_Ads_Named_After_The_Chain()
    {
        var resources = new WaypointTranslator().Translate(TranslationSyntheticCluster.Create(3)).Waypoints[Key];

        var chains = MainInternal(resources).FilterChains.Where(c => c.Name.Contains("|http|", StringComparison.Ordinal)).ToList();
        Assert.Equal(3, chains.Count);
        foreach (var chain in chains)
        {
            var hcm = chain.Filters[0].TypedConfig.Unpack<HttpConnectionManager>();
            Assert.Null(hcm.RouteConfig);
            Assert.Equal(chain.Name, hcm.Rds.RouteConfigName);
            Assert.NotNull(hcm.Rds.ConfigSource.Ads);
            Assert.Equal(Envoy.Config.Core.V3.ApiVersion.V3, hcm.Rds.ConfigSource.ResourceApiVersion);
        }

        Assert.Equal(chains.Select(c => c.Name).Order(StringComparer.Ordinal), resources.Routes.Select(r => r.Name));
    }

    private static EncodedResource EncodedOf(WaypointResources resources, string name) => resources.Encoded.Single(e => e.Name == name && e.TypeUrl.EndsWith(".Listener", StringComparison.Ordinal));

    [Fact]
    public void Waypoint_Without_Bound_Services_Has_No_Main_Internal_Listener()
    {
        var result = new WaypointTranslator().Translate(Load(Base.Replace("istio.io/use-waypoint: waypoint", "x: y", StringComparison.Ordinal) + Service("echo", "10.0.0.1")));

        Assert.Equal(["connect_originate", "connect_terminate"], result.Waypoints[Key].Listeners.Select(l => l.Name));
    }

    [Fact]
    public void Empty_Snapshot_Translates_To_Nothing()
    {
        var result = new WaypointTranslator().Translate(ClusterSnapshot.Empty);

        Assert.Empty(result.Waypoints);
        Assert.Empty(result.Gateways);
        Assert.Empty(result.Routes);
    }

    private static Listener MainInternal(WaypointResources resources) => resources.Listeners.Single(l => l.Name == "main_internal");

    private static Google.Protobuf.Collections.RepeatedField<Route> HttpRoutes(TranslationResult result, string chain)
    {
        var resources = result.Waypoints[Key];
        var filterChain = MainInternal(resources).FilterChains.Single(c => c.Name == chain);
        var hcm = filterChain.Filters[0].TypedConfig.Unpack<HttpConnectionManager>();
        return resources.Routes.Single(r => r.Name == hcm.Rds.RouteConfigName).VirtualHosts[0].Routes;
    }
}
