using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Waypoint.Cli;
using Waypoint.Cli.Connection;
using Waypoint.Cli.Rendering;
using Waypoint.Controller.Client;
using Waypoint.Controller.Diagnostics;
using Waypoint.Controller.Publishing;
using Waypoint.Controller.Tests.Infrastructure;
using Waypoint.TestKit.Kubernetes;
using Waypoint.TestKit.Xds;
using Waypoint.Translator;
using Waypoint.Xds;
using Xunit.Abstractions;

namespace Waypoint.Controller.Tests.Diagnostics;

/// <summary>
/// The debug API served from a real controller replica (fake API server, real xDS server with a connected ADS
/// client): what it projects, and who may read it — loopback, else a bearer token the API server's TokenReview
/// knows and whose user SubjectAccessReview allows.
/// </summary>
public sealed class ControllerDebugApiTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly WaypointKey Waypoint = new("apps", "waypoint");
    private ControllerHarness _h = null!;
    private TestXdsServer _xds = null!;
    private ControllerHarness.Replica _replica = null!;

    public async Task InitializeAsync()
    {
        _h = await ControllerHarness.StartAsync(output);
        _h.Create(FakeResourceType.Namespaces, Objects.Namespace("apps"));
        _h.Create(FakeResourceType.GatewayClasses, Objects.GatewayClass());
        _h.Create(FakeResourceType.Services, Objects.Service("reviews", labels: """{"istio.io/use-waypoint":"waypoint"}"""));
        _h.Patch(FakeResourceType.Services, "apps", "reviews", """{"status":{"conditions":[{"type":"istio.io/WaypointBound","status":"True","reason":"Bound","message":"bound to apps/waypoint","lastTransitionTime":"2026-12-02T10:00:00Z"}]}}""", status: true);
        _h.Create(FakeResourceType.HttpRoutes, Objects.HttpRoute("reviews", "reviews", "reviews"));
        _h.Create(FakeResourceType.Gateways, Objects.Gateway("waypoint"));
        _xds = await TestXdsServer.StartAsync();
        _replica = await _h.StartReplicaAsync(publisher: new XdsConfigPublisher(_xds.Cache), xdsStatus: _xds.Status);
        await Eventually.TrueAsync(() => _replica.Publisher.Latest?.Translation.Routes.Any(r => r.Name == "reviews") == true, "route translated");
    }

    public async Task DisposeAsync()
    {
        await _h.DisposeAsync();
        await _xds.DisposeAsync();
    }

    [Fact]
    public async Task Loopback_Callers_Read_Every_Waypoint_With_Its_Services_Routes_And_Connected_Envoys()
    {
        await using var api = await DebugApi.StartAsync(_replica, _xds, _h, trustLoopback: true);
        using var channel = GrpcChannel.ForAddress(_xds.Address);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using var envoy = new SotwAdsTestClient(channel, SotwAdsTestClient.Node("waypoint-abc.apps", Waypoint.ToString()), cts.Token);
        await envoy.RequestAsync(XdsTypeUrls.Cluster);
        await envoy.AckAsync(await envoy.ReceiveAsync());
        await _xds.Status.WaitUntilAsync(s => s.GetAckedVersion("waypoint-abc.apps", XdsTypeUrls.Cluster) is not null, cts.Token);

        using var http = api.CreateClient(token: null);
        var document = JsonNode.Parse(await http.GetStringAsync(new Uri("debug/waypoints", UriKind.Relative)))!;
        var waypoint = document["waypoints"]!.AsArray().Single()!;
        Assert.Equal("waypoint", waypoint["name"]!.GetValue<string>());
        var service = waypoint["services"]!.AsArray().Single(s => s!["name"]!.GetValue<string>() == "apps/reviews")!;
        Assert.Equal("True", service["waypointBound"]!["status"]!.GetValue<string>());
        Assert.Equal("Bound", service["waypointBound"]!["reason"]!.GetValue<string>());
        var route = waypoint["routes"]!.AsArray().Single()!;
        Assert.Equal("Service apps/reviews", route["parent"]!.GetValue<string>());
        Assert.Contains(route["conditions"]!.AsArray(), c => c!["type"]!.GetValue<string>() == "Accepted" && c["status"]!.GetValue<string>() == "True");
        var connected = waypoint["envoys"]!.AsArray().Single()!;
        Assert.Equal("waypoint-abc.apps", connected["nodeId"]!.GetValue<string>());
        Assert.Equal("SotW", connected["protocol"]!.GetValue<string>());
        Assert.False(string.IsNullOrEmpty(connected["acked"]!["cds"]?.GetValue<string>()));

        // The config summary and the full resources are what the xDS server serves.
        var config = JsonNode.Parse(await http.GetStringAsync(new Uri("debug/config/apps/waypoint", UriKind.Relative)))!;
        Assert.Equal(_replica.Publisher.Latest!.Translation.Waypoints[Waypoint].Version, config["version"]!.GetValue<string>());
        Assert.Contains(config["listeners"]!.AsArray(), l => l!["name"]!.GetValue<string>() == "connect_terminate");
        var full = JsonNode.Parse(await http.GetStringAsync(new Uri("debug/config/apps/waypoint/full", UriKind.Relative)))!;
        Assert.Equal(config["clusters"]!.AsArray().Count, full["clusters"]!.AsArray().Count);
        Assert.DoesNotContain("private_key", full.ToJsonString(), StringComparison.OrdinalIgnoreCase);

        // Describe: the waypoint, and the route order Envoy matches.
        var described = JsonNode.Parse(await http.GetStringAsync(new Uri("debug/services/apps/reviews", UriKind.Relative)))!;
        Assert.Equal("apps/waypoint", described["waypoint"]!.GetValue<string>());
        Assert.Contains(described["routes"]!.AsArray().SelectMany(r => r!["routes"]!.AsArray()), r => r!.GetValue<string>().StartsWith("apps.reviews.", StringComparison.Ordinal));

        // Not a waypoint, not a Service: 404 with the reason.
        using var missing = await http.GetAsync(new Uri("debug/config/apps/nope", UriKind.Relative));
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Contains("not a waypoint", await missing.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Off_Loopback_A_Bearer_Token_Is_Checked_With_TokenReview_And_SubjectAccessReview()
    {
        _h.Server.AccessReviews.AddToken("alice-token", "alice", "system:authenticated");
        _h.Server.AccessReviews.AddToken("bob-token", "bob", "system:authenticated");
        _h.Server.AccessReviews.Grant("alice", "list", "gateway.networking.k8s.io", "gateways");
        _h.Server.AccessReviews.Grant("alice", "get", "gateway.networking.k8s.io", "gateways", "apps");
        await using var api = await DebugApi.StartAsync(_replica, _xds, _h, trustLoopback: false);

        using (var anonymous = api.CreateClient(token: null))
        {
            using var response = await anonymous.GetAsync(new Uri("debug/waypoints", UriKind.Relative));
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }

        using (var unknown = api.CreateClient("forged"))
        {
            using var response = await unknown.GetAsync(new Uri("debug/waypoints", UriKind.Relative));
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }

        using (var bob = api.CreateClient("bob-token"))
        {
            using var response = await bob.GetAsync(new Uri("debug/config/apps/waypoint", UriKind.Relative));
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
            Assert.Contains("get gateways.gateway.networking.k8s.io/waypoint in apps", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using (var alice = api.CreateClient("alice-token"))
        {
            using var list = await alice.GetAsync(new Uri("debug/waypoints", UriKind.Relative));
            Assert.Equal(HttpStatusCode.OK, list.StatusCode);
            using var config = await alice.GetAsync(new Uri("debug/config/apps/waypoint", UriKind.Relative));
            Assert.Equal(HttpStatusCode.OK, config.StatusCode);

            // Services need their own grant.
            using var service = await alice.GetAsync(new Uri("debug/services/apps/reviews", UriKind.Relative));
            Assert.Equal(HttpStatusCode.Forbidden, service.StatusCode);
        }

        // The reviews carried the token and then the user TokenReview named.
        var reviews = _h.Server.AccessReviews.Reviews;
        Assert.Contains(reviews, r => r["kind"]!.GetValue<string>() == "TokenReview" && r["spec"]!["token"]!.GetValue<string>() == "alice-token");
        Assert.Contains(reviews, r => r["kind"]!.GetValue<string>() == "SubjectAccessReview" && r["spec"]!["user"]!.GetValue<string>() == "alice"
            && r["spec"]!["resourceAttributes"]!["namespace"]?.GetValue<string>() == "apps");
        Assert.True(_replica.Logs.HasEvent("DebugAccessDenied"));
    }

    [Fact]
    public async Task The_Cli_Client_Reads_Status_Through_A_Url_With_A_Token_And_Names_What_It_Could_Not_Reach()
    {
        _h.Server.AccessReviews.AddToken("alice-token", "alice");
        _h.Server.AccessReviews.Grant("alice", "list", "gateway.networking.k8s.io", "gateways");
        await using var api = await DebugApi.StartAsync(_replica, _xds, _h, trustLoopback: false);

        using (var locator = new DirectControllerLocator(api.BaseAddress, "alice-token", TimeSpan.FromSeconds(30)))
        {
            var document = await new ControllerDebugClient(locator).GetWaypointsAsync(null, CancellationToken.None);
            var text = StatusRenderer.Render(document, DateTimeOffset.UtcNow);
            Assert.Contains("apps/reviews", text, StringComparison.Ordinal);
            Assert.Contains("HTTPRoute   apps/reviews", text, StringComparison.Ordinal);
            Assert.Contains("(none connected)", text, StringComparison.Ordinal);
        }

        using (var locator = new DirectControllerLocator(api.BaseAddress, null, TimeSpan.FromSeconds(30)))
        {
            var refused = await Assert.ThrowsAsync<ControllerUnreachableException>(() => new ControllerDebugClient(locator).GetWaypointsAsync(null, CancellationToken.None));
            Assert.Contains("401", refused.Message, StringComparison.Ordinal);
            Assert.Contains("Bearer", refused.Message, StringComparison.Ordinal);
        }

        // Nothing listens there: the error says where the CLI tried.
        var closed = new Uri($"http://127.0.0.1:{FreePort()}/");
        using (var locator = new DirectControllerLocator(closed, null, TimeSpan.FromSeconds(30)))
        {
            var unreachable = await Assert.ThrowsAsync<ControllerUnreachableException>(() => new ControllerDebugClient(locator).GetWaypointsAsync(null, CancellationToken.None));
            Assert.Contains($"Could not reach the controller at {closed}", unreachable.Message, StringComparison.Ordinal);
            Assert.Contains("refused", unreachable.Message, StringComparison.OrdinalIgnoreCase);
        }
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>The controller's debug endpoints on 127.0.0.1:0, over a running replica, as ControllerCommand maps them.</summary>
    private sealed class DebugApi(WebApplication app) : IAsyncDisposable
    {
        public Uri BaseAddress { get; } = new(app.Urls.First() + "/");

        public static async Task<DebugApi> StartAsync(ControllerHarness.Replica replica, TestXdsServer xds, ControllerHarness h, bool trustLoopback)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            var client = new KubernetesApiClient(h.Server.CreateClientConfiguration());
            builder.Services.AddSingleton(new ControllerDebugView(replica.Controller, xds.Status, new WaypointControllerOptions()));
            builder.Services.AddSingleton(new DebugAccessReviewer(client, TimeProvider.System, replica.LoggerFactory.CreateLogger("Waypoint.Controller.Debug"), trustLoopback));
            var app = builder.Build();
            app.MapWaypointControllerDebug();
            await app.StartAsync();
            return new DebugApi(app);
        }

        public HttpClient CreateClient(string? token)
        {
            var http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
            if (token is not null)
            {
                http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
            }

            return http;
        }

        public async ValueTask DisposeAsync()
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }
}
