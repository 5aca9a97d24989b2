using System.Net.Http;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Waypoint.Controller.Client;
using Waypoint.Controller.Events;
using Waypoint.Controller.Publishing;
using Waypoint.Controller.Tests.Infrastructure;
using Waypoint.TestKit.Ca;
using Waypoint.TestKit.Kubernetes;
using Waypoint.TestKit.Xds;
using Waypoint.Translator;
using Waypoint.Xds;
using Waypoint.Xds.Security;
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
    public async Task An_Invalid_RequestAuthentication_Gets_A_Warning_PolicyInvalid_Event_On_Itself()
    {
        _h.Create(FakeResourceType.Gateways, Objects.Gateway("waypoint"));
        _h.Create(FakeResourceType.Services, Objects.Service("reviews"));
        var created = _h.Create(FakeResourceType.RequestAuthentications, """
            {"apiVersion":"security.istio.io/v1","kind":"RequestAuthentication","metadata":{"name":"no-issuer","namespace":"apps","generation":1},
             "spec":{"targetRefs":[{"kind":"Service","group":"","name":"reviews"}],
                     "jwtRules":[{"jwks":"{\"keys\":[]}"}]}}
            """);
        await _h.StartReplicaAsync();

        await Eventually.TrueAsync(() => Events("PolicyInvalid").Count == 1, "PolicyInvalid event", TimeSpan.FromSeconds(30));
        var invalid = Events("PolicyInvalid").Single();
        Assert.Equal("Warning", invalid["type"]!.GetValue<string>());
        Assert.Equal("RequestAuthentication", invalid["involvedObject"]!["kind"]!.GetValue<string>());
        Assert.Equal("security.istio.io/v1", invalid["involvedObject"]!["apiVersion"]!.GetValue<string>());
        Assert.Equal("no-issuer", invalid["involvedObject"]!["name"]!.GetValue<string>());
        Assert.Equal(created["metadata"]!["uid"]!.GetValue<string>(), invalid["involvedObject"]!["uid"]!.GetValue<string>());
        Assert.Contains("spec.jwtRules[0]", invalid["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_Envoy_Connecting_With_A_Certificate_Past_Three_Quarters_Of_Its_Life_Gets_A_CertificateFailed_Event()
    {
        const string identity = "spiffe://cluster.local/ns/apps/sa/waypoint";

        // The CA's clock starts 50 minutes ago (its root dates from then) so that it can issue a one-hour certificate
        // already 50 minutes old; 44 minutes later by its clock it issues one only 6 minutes old.
        var caTime = new FakeTimeProvider(DateTimeOffset.UtcNow - TimeSpan.FromMinutes(50));
        await using var ca = await IstiodCaDouble.StartAsync(new IstiodCaDoubleOptions { TimeProvider = caTime });
        var groups = new StaticXdsIdentityGroups(new Dictionary<string, string[]> { [identity] = [Waypoint.ToString()] });
        await using var xds = await TestXdsServer.StartAsync(tls: new TestXdsServerTls(ca, groups));
        _h.Create(FakeResourceType.Gateways, Objects.Gateway("waypoint"));
        var replica = await _h.StartReplicaAsync(publisher: new XdsConfigPublisher(xds.Cache), xdsStatus: xds.Status);
        await Eventually.TrueAsync(() => replica.Controller.IsLeader && xds.Cache.TryGetSnapshot(Waypoint.ToString(), out _), "leader with a published waypoint");

        using var aged = ca.Ca.IssueWorkloadCertificate(identity, TimeSpan.FromHours(1));
        caTime.Advance(TimeSpan.FromMinutes(44));
        using var fresh = ca.Ca.IssueWorkloadCertificate(identity, TimeSpan.FromHours(1));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        using var freshChannel = MeshChannel(xds, ca, fresh);
        await using var freshStream = await ConnectAsync(xds, freshChannel, "fresh-pod", cts.Token);
        replica.Controller.CheckCertificates();
        using var agedChannel = MeshChannel(xds, ca, aged);
        await using var agedStream = await ConnectAsync(xds, agedChannel, "aged-pod", cts.Token);
        replica.Controller.CheckCertificates();
        replica.Controller.CheckCertificates(); // once per stream, however often it is checked

        await Eventually.TrueAsync(() => Events("CertificateFailed").Count == 1, "CertificateFailed event", TimeSpan.FromSeconds(30));
        var failed = Events("CertificateFailed").Single();
        Assert.Equal("Warning", failed["type"]!.GetValue<string>());
        Assert.Equal("Gateway", failed["involvedObject"]!["kind"]!.GetValue<string>());
        Assert.Equal("waypoint", failed["involvedObject"]!["name"]!.GetValue<string>());
        var message = failed["message"]!.GetValue<string>();
        Assert.Contains("aged-pod", message, StringComparison.Ordinal);
        Assert.DoesNotContain("fresh-pod", message, StringComparison.Ordinal);
        Assert.Contains("rotation", message, StringComparison.Ordinal);
    }

    /// <summary>A channel to the xDS server over mutual TLS with <paramref name="certificate"/>, trusting the mesh root.</summary>
    private static GrpcChannel MeshChannel(TestXdsServer xds, IstiodCaDouble ca, X509Certificate2 certificate)
    {
        var root = ca.Ca.Root;
        var handler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                ApplicationProtocols = [SslApplicationProtocol.Http2],
                ClientCertificates = [certificate],
                RemoteCertificateValidationCallback = (_, presented, _, _) =>
                {
                    if (presented is null)
                    {
                        return false;
                    }

                    using var chain = new X509Chain();
                    chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                    chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                    chain.ChainPolicy.CustomTrustStore.Add(root);
                    return chain.Build(X509CertificateLoader.LoadCertificate(presented.GetRawCertData()));
                },
            },
        };
        return GrpcChannel.ForAddress(xds.Address, new GrpcChannelOptions { HttpHandler = handler, DisposeHttpClient = true });
    }

    /// <summary>An ADS stream, once the server has answered its first request and registered it.</summary>
    private static async Task<SotwAdsTestClient> ConnectAsync(TestXdsServer xds, GrpcChannel channel, string nodeId, CancellationToken cancellationToken)
    {
        var client = new SotwAdsTestClient(channel, SotwAdsTestClient.Node(nodeId, Waypoint.ToString()), cancellationToken);
        await client.RequestAsync(XdsTypeUrls.Cluster);
        _ = await client.ReceiveAsync();
        await Eventually.TrueAsync(() => xds.Status.GetStreams(nodeId).Count == 1, $"stream of {nodeId} registered");
        return client;
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
