using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Http;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using Envoy.Config.Core.V3;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Waypoint.Agent.Certificates;
using Waypoint.TestKit.Ca;
using Waypoint.TestKit.Envoy;
using Waypoint.TestKit.Xds;
using Waypoint.Xds.Bootstrap;
using Waypoint.Xds.Security;

namespace Waypoint.Xds.Tests.Security;

// Waypoint.Node (a namespace, referenced through the TestKit) would otherwise hide Envoy's Node message here.
using Node = global::Envoy.Config.Core.V3.Node;

/// <summary>
/// xDS over mutual TLS: the server's certificate comes from the istiod CA double for the controller's identity, each
/// client is authenticated by its workload certificate and may read only the node group its identity is granted.
/// </summary>
public sealed class SecureXdsTests : IAsyncLifetime
{
    private const string Waypoint = "waypoint.apps";
    private const string OtherWaypoint = "other.apps";
    private const string WaypointIdentity = "spiffe://cluster.local/ns/apps/sa/waypoint";
    private const string OtherIdentity = "spiffe://cluster.local/ns/apps/sa/other";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    private IstiodCaDouble _ca = null!;
    private TestXdsServer _xds = null!;

    public async Task InitializeAsync()
    {
        _ca = await IstiodCaDouble.StartAsync();
        var groups = new StaticXdsIdentityGroups(new Dictionary<string, string[]>
        {
            [WaypointIdentity] = [Waypoint],
            [OtherIdentity] = [OtherWaypoint],
        });
        _xds = await TestXdsServer.StartAsync(tls: new TestXdsServerTls(_ca, groups));
        _xds.Cache.SetSnapshot(Waypoint, XdsTestResources.HttpProxy(("echo-waypoint", new IPEndPoint(IPAddress.Loopback, 9))));
        _xds.Cache.SetSnapshot(OtherWaypoint, XdsTestResources.HttpProxy(("echo-other", new IPEndPoint(IPAddress.Loopback, 9))));
    }

    public async Task DisposeAsync()
    {
        await _xds.DisposeAsync();
        await _ca.DisposeAsync();
    }

    [Fact]
    public void Server_Certificate_Comes_From_The_Mesh_Ca_For_The_Controllers_Own_Token()
    {
        var request = Assert.Single(_ca.Requests, r => r.Outcome == StatusCode.OK);
        Assert.Equal("spiffe://cluster.local/ns/waypoint-system/sa/waypoint-controller", request.Identity);
        Assert.Equal(_xds.Tls!.ServerIdentity, request.Identity);
    }

    [Theory]
    [InlineData(XdsProtocol.StateOfTheWorld)]
    [InlineData(XdsProtocol.Delta)]
    public async Task Real_Envoy_Connects_Over_Tls_With_Its_Sds_Certificate_And_Gets_Its_Waypoints_Config(XdsProtocol protocol)
    {
        await using var agent = await TestWorkloadAgent.StartAsync(_ca, "apps", "waypoint");
        await using var envoy = await _xds.StartEnvoyAsync(Waypoint, "pod-1", protocol, sdsSocketPath: agent.SocketPath);

        try
        {
            await _xds.WaitForSnapshotAckedAsync("pod-1", Waypoint, Timeout);
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException(ex.Message + "\n" + string.Join('\n', envoy.LogTail(300).Split('\n').Where(l => l.Contains("][warning]", StringComparison.Ordinal) || l.Contains("][error]", StringComparison.Ordinal))) +
                "\n--- server ---\n" + string.Join('\n', _xds.Logs.GetSnapshot().Where(r => r.Level >= Microsoft.Extensions.Logging.LogLevel.Information).Select(r => $"{r.Category} {r.Id.Name}: {r.Message} {r.Exception?.Message}")), ex);
        }

        await envoy.GetListenerPortAsync(XdsTestResources.ListenerName);
        var dump = (await envoy.GetConfigDumpAsync()).ToJsonString();
        Assert.Contains("echo-waypoint", dump, StringComparison.Ordinal);
        Assert.DoesNotContain("echo-other", dump, StringComparison.Ordinal);
        Assert.Equal(Waypoint, Assert.Single(_xds.Status.GetStreams("pod-1")).NodeGroup);

        // The xds-grpc cluster's connection really is TLS, with the agent's secrets.
        Assert.True(await envoy.GetStatValueAsync("cluster.xds-grpc.ssl.handshake") >= 1);
        var secrets = (await envoy.GetConfigDumpSectionAsync("SecretsConfigDump"))!.ToJsonString();
        Assert.Contains("ROOTCA", secrets, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Real_Envoy_Connects_When_The_Mesh_Ca_Issues_From_An_Intermediate()
    {
        await using var ca = await IstiodCaDouble.StartAsync(new IstiodCaDoubleOptions { WithIntermediate = true });
        var groups = new StaticXdsIdentityGroups(new Dictionary<string, string[]> { [WaypointIdentity] = [Waypoint] });
        await using var xds = await TestXdsServer.StartAsync(tls: new TestXdsServerTls(ca, groups));
        xds.Cache.SetSnapshot(Waypoint, XdsTestResources.HttpProxy(("echo-waypoint", new IPEndPoint(IPAddress.Loopback, 9))));
        await using var agent = await TestWorkloadAgent.StartAsync(ca, "apps", "waypoint");
        Assert.NotEmpty(agent.Manager.Current!.Intermediates);

        await using var envoy = await xds.StartEnvoyAsync(Waypoint, "pod-1", sdsSocketPath: agent.SocketPath);

        await xds.WaitForSnapshotAckedAsync("pod-1", Waypoint, Timeout);
        await envoy.GetListenerPortAsync(XdsTestResources.ListenerName);
    }

    [Fact]
    public async Task A_Rotated_Server_Certificate_Serves_The_Next_Handshake()
    {
        var manager = _xds.Services.GetRequiredService<global::Waypoint.Agent.WorkloadCertificateManager>();
        var before = manager.Current!;
        Assert.Equal(before.Leaf.Thumbprint, (await ServerCertificateAsync()).Thumbprint);

        var rotated = await manager.RenewAsync(CancellationToken.None);

        Assert.NotEqual(before.Leaf.Thumbprint, rotated.Leaf.Thumbprint);
        Assert.Equal(rotated.Leaf.Thumbprint, (await ServerCertificateAsync()).Thumbprint);
        using var certificate = _ca.Ca.IssueWorkloadCertificate(WaypointIdentity);
        await ReadClustersAsync(certificate, Waypoint);   // clients are still verified against the mesh root
    }

    [Fact]
    public async Task Real_Envoy_Whose_Node_Cluster_Disagrees_With_Its_Identity_Is_Refused()
    {
        using var refusals = new MetricCollector<long>(_xds.Services.GetRequiredService<IMeterFactory>(), "Waypoint.Xds", "waypoint.xds.invalid_requests");
        await using var agent = await TestWorkloadAgent.StartAsync(_ca, "apps", "waypoint");
        var bootstrap = _xds.CreateBootstrapOptions(OtherWaypoint, "pod-2", sdsSocketPath: agent.SocketPath) with { InitialFetchTimeout = TimeSpan.FromSeconds(1) };
        await using var envoy = await EnvoyProcess.StartAsync(EnvoyBootstrapBuilder.RenderJson(EnvoyBootstrapBuilder.Build(bootstrap)));

        await refusals.WaitForMeasurementsAsync(1, Timeout);
        Assert.Contains(refusals.GetMeasurementSnapshot(), m => Equals(m.Tags["error.type"], "permission_denied"));
        // Envoy keeps retrying; every attempt is refused the same way.
        var refused = _xds.Logs.GetSnapshot().Where(r => r.Id.Name == "StreamRefused" && r.Message.Contains("pod-2", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(refused);
        Assert.All(refused, r => Assert.Contains("PermissionDenied", r.Message, StringComparison.Ordinal));
        Assert.Contains(WaypointIdentity, refused[0].Message, StringComparison.Ordinal);
        Assert.Contains(OtherWaypoint, refused[0].Message, StringComparison.Ordinal);
        Assert.DoesNotContain(_xds.Logs.GetSnapshot(), r => r.Message.Contains("PRIVATE KEY", StringComparison.Ordinal) || r.Message.Contains("eyJ", StringComparison.Ordinal));
        Assert.Empty(_xds.Status.GetStreams("pod-2"));
        Assert.DoesNotContain("echo-other", (await envoy.GetConfigDumpAsync()).ToJsonString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_Mesh_Identity_Reads_Its_Own_Group()
    {
        using var certificate = _ca.Ca.IssueWorkloadCertificate(WaypointIdentity);
        var response = await ReadClustersAsync(certificate, Waypoint);
        Assert.Contains("echo-waypoint", response.Resources.Single().Value.ToStringUtf8(), StringComparison.Ordinal);
    }

    /// <summary>
    /// A client certificate the server refuses in the TLS handshake. With TLS 1.3 the client's side of the handshake
    /// completes before the server checks its certificate, so by timing the client sees a failed call or the connection
    /// closed in the HTTP/2 preface; either way nothing is served.
    /// </summary>
    private static async Task AssertHandshakeRefusedAsync(Func<Task> call)
    {
        var refused = await Record.ExceptionAsync(call);
        Assert.True(refused is RpcException { StatusCode: not StatusCode.OK } or System.Net.Http.HttpIOException or System.Net.Http.HttpRequestException, $"not refused in the handshake: {refused}");
    }

    [Fact]
    public async Task A_Client_Without_A_Certificate_Is_Unauthenticated()
    {
        var refused = await Assert.ThrowsAsync<RpcException>(() => ReadClustersAsync(null, Waypoint));
        Assert.Equal(StatusCode.Unauthenticated, refused.StatusCode);
        Assert.Empty(_xds.Status.GetStreams());
    }

    [Fact]
    public async Task A_Certificate_From_A_Foreign_Root_Fails_The_Handshake()
    {
        using var foreign = _ca.ForeignCa.IssueWorkloadCertificate(WaypointIdentity);
        await AssertHandshakeRefusedAsync(() => ReadClustersAsync(foreign, Waypoint));
        Assert.Contains(_xds.Logs.GetSnapshot(), r => r.Id.Name == "ClientCertificateRejected");
        Assert.Empty(_xds.Status.GetStreams());
    }

    [Theory]
    [InlineData("spiffe://cluster.local/ns/apps/sa/intruder", Waypoint)]   // a valid mesh identity granted nothing
    [InlineData(OtherIdentity, Waypoint)]                                 // another waypoint's identity naming this group
    [InlineData(WaypointIdentity, OtherWaypoint)]                          // this waypoint naming another group
    [InlineData(WaypointIdentity, "ghost.apps")]                           // a group nobody publishes
    public async Task An_Identity_Cannot_Read_A_Group_It_Is_Not_Granted_By_Naming_It(string identity, string nodeCluster)
    {
        using var certificate = _ca.Ca.IssueWorkloadCertificate(identity);
        var entries = _xds.Cache.EntryCount;

        var refused = await Assert.ThrowsAsync<RpcException>(() => ReadClustersAsync(certificate, nodeCluster));

        Assert.Equal(StatusCode.PermissionDenied, refused.StatusCode);
        Assert.Contains(identity, refused.Status.Detail, StringComparison.Ordinal);
        Assert.Empty(_xds.Status.GetStreams());
        Assert.Equal(entries, _xds.Cache.EntryCount);
        Assert.Contains(_xds.Logs.GetSnapshot(), r => r.Id.Name == "StreamRefused" && r.Message.Contains(identity, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_Certificate_Of_Another_Trust_Domain_Under_The_Mesh_Root_Is_Refused()
    {
        using var certificate = _ca.Ca.IssueWorkloadCertificate("spiffe://cluster.local.evil/ns/apps/sa/waypoint");
        await AssertHandshakeRefusedAsync(() => ReadClustersAsync(certificate, Waypoint));
        Assert.Contains(_xds.Logs.GetSnapshot(), r => r.Id.Name == "ClientCertificateRejected" && r.Message.Contains("cluster.local.evil", StringComparison.Ordinal));
        Assert.Empty(_xds.Status.GetStreams());
    }

    [Fact]
    public async Task Debug_Endpoint_Answers_On_Loopback_Over_Tls()
    {
        using var http = new HttpClient(Handler(clientCertificate: null)) { DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
        var json = JsonNode.Parse(await http.GetStringAsync(new Uri(_xds.Address, "/debug/xds")))!;
        Assert.Equal(2, json["snapshots"]!.AsArray().Count);
    }

    /// <summary>One SotW CDS request as <paramref name="nodeCluster"/>, over TLS that trusts only the mesh root and the controller's identity.</summary>
    private async Task<global::Envoy.Service.Discovery.V3.DiscoveryResponse> ReadClustersAsync(X509Certificate2? clientCertificate, string nodeCluster)
    {
        using var channel = GrpcChannel.ForAddress(_xds.Address, new GrpcChannelOptions { HttpHandler = Handler(clientCertificate) });
        await using var client = new SotwAdsTestClient(channel, new Node { Id = "test-client", Cluster = nodeCluster });
        await client.RequestAsync(XdsTypeUrls.Cluster);
        return await client.ReceiveAsync(Timeout);
    }

    private async Task<X509Certificate2> ServerCertificateAsync()
    {
        X509Certificate2? seen = null;
        using var http = new HttpClient(Handler(clientCertificate: null, c => seen = c)) { DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
        using var response = await http.GetAsync(new Uri(_xds.Address, "/debug/xds"));
        response.EnsureSuccessStatusCode();
        return seen!;
    }

    private SocketsHttpHandler Handler(X509Certificate2? clientCertificate, Action<X509Certificate2>? onServerCertificate = null)
    {
        var root = _ca.Ca.Root;
        var serverIdentity = _xds.Tls!.ServerIdentity;
        return new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                ApplicationProtocols = [SslApplicationProtocol.Http2],
                ClientCertificates = clientCertificate is null ? null : [clientCertificate],
                // As Envoy's bootstrap does: the mesh root, and the controller's SPIFFE ID instead of a host name.
                RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                {
                    if (certificate is null)
                    {
                        return false;
                    }

                    var presented = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
                    onServerCertificate?.Invoke(presented);
                    using var chain = new X509Chain();
                    chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                    chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                    chain.ChainPolicy.CustomTrustStore.Add(root);
                    return chain.Build(presented) && X509Names.GetUriSans(presented).SequenceEqual([serverIdentity]);
                },
            },
        };
    }
}
