using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Waypoint.Agent.Certificates;
using Waypoint.TestKit.Envoy;
using Waypoint.TestKit.Http;
using Waypoint.TestKit.Pki;

namespace Waypoint.Agent.Tests.EndToEnd;

/// <summary>Token → CSR → istiod double → validated certificate → SDS → a real Envoy's HBONE-style TLS contexts.</summary>
public sealed class EnvoySdsTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Envoy_Listener_Presents_The_Agents_Certificate_And_Admits_A_Mesh_Client()
    {
        await using var agent = await AgentHost.StartAsync();
        await using var backend = await EchoBackend.StartAsync("backend");
        var certificate = await agent.WaitForCertificateAsync();
        await using var envoy = await StartEnvoyAsync(agent, backend.EndPoint);
        var port = await envoy.GetListenerPortAsync("mesh");

        using var peer = agent.Ca.Ca.IssueWorkloadCertificate("spiffe://cluster.local/ns/apps/sa/client");
        using var client = new MeshTlsClient(new IPEndPoint(IPAddress.Loopback, port), Roots(agent), peer);
        using var response = await client.Http.GetAsync("/hello");

        response.EnsureSuccessStatusCode();
        Assert.Equal(HttpVersion.Version20, response.Version);
        Assert.Equal("/hello", EchoResponse.Parse(await response.Content.ReadAsStringAsync()).Path);
        var presented = Assert.Single(client.ServerCertificates);
        Assert.Equal(certificate.Leaf.Thumbprint, presented.Thumbprint);
        Assert.Equal(["spiffe://cluster.local/ns/apps/sa/waypoint"], X509Names.GetUriSans(presented));

        // Envoy holds both secrets from SDS.
        var secrets = await envoy.GetConfigDumpSectionAsync("SecretsConfigDump");
        var names = secrets!["dynamic_active_secrets"]!.AsArray().Select(s => s!["name"]!.GetValue<string>()).Order(StringComparer.Ordinal);
        Assert.Equal(["ROOTCA", "default"], names);
        Assert.True(agent.Manager.IsReady);
        Assert.DoesNotContain(agent.Logs.GetSnapshot(), r => r.Message.Contains("PRIVATE KEY", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Envoy_Refuses_Clients_Without_A_Mesh_Certificate()
    {
        await using var agent = await AgentHost.StartAsync();
        await using var backend = await EchoBackend.StartAsync("backend");
        await agent.WaitForCertificateAsync();
        await using var envoy = await StartEnvoyAsync(agent, backend.EndPoint);
        var target = new IPEndPoint(IPAddress.Loopback, await envoy.GetListenerPortAsync("mesh"));

        // No certificate at all.
        await AssertRefusedAsync(envoy, new MeshTlsClient(target, Roots(agent)), "ssl.fail_verify_no_cert");

        // A certificate from another root with a well-formed identity.
        using var foreign = agent.Ca.ForeignCa.IssueWorkloadCertificate("spiffe://cluster.local/ns/apps/sa/client");
        await AssertRefusedAsync(envoy, new MeshTlsClient(target, Roots(agent), foreign), "ssl.fail_verify_error");

        // The mesh root, but another trust domain (including one that only shares a prefix without the slash).
        using var otherDomain = agent.Ca.Ca.IssueWorkloadCertificate("spiffe://cluster.local.evil/ns/apps/sa/client");
        await AssertRefusedAsync(envoy, new MeshTlsClient(target, Roots(agent), otherDomain), "ssl.fail_verify_san");

        Assert.Equal(0, backend.RequestCount);

        // And a mesh client still gets through.
        using var mesh = agent.Ca.Ca.IssueWorkloadCertificate("spiffe://cluster.local/ns/other/sa/client");
        using var client = new MeshTlsClient(target, Roots(agent), mesh);
        (await client.Http.GetAsync("/")).EnsureSuccessStatusCode();
        Assert.Equal(1, backend.RequestCount);
    }

    [Fact]
    public async Task Rotation_Reaches_Envoy_New_Connections_See_It_And_Established_Ones_Survive()
    {
        await using var agent = await AgentHost.StartAsync(o => o.CertificateTtl = TimeSpan.FromSeconds(6));
        await using var backend = await EchoBackend.StartAsync("backend");
        var first = await agent.WaitForCertificateAsync();
        await using var envoy = await StartEnvoyAsync(agent, backend.EndPoint);
        var target = new IPEndPoint(IPAddress.Loopback, await envoy.GetListenerPortAsync("mesh"));
        using var peer = agent.Ca.Ca.IssueWorkloadCertificate("spiffe://cluster.local/ns/apps/sa/client");

        using var established = new MeshTlsClient(target, Roots(agent), peer);
        (await established.Http.GetAsync("/before")).EnsureSuccessStatusCode();
        Assert.Equal(first.Leaf.Thumbprint, Assert.Single(established.ServerCertificates).Thumbprint);

        // Poll new connections until one is served a rotated certificate.
        X509Certificate2? rotated = null;
        await envoy.WaitUntilAsync(
            async ct =>
            {
                using var fresh = new MeshTlsClient(target, Roots(agent), peer);
                (await fresh.Http.GetAsync("/probe", ct)).EnsureSuccessStatusCode();
                rotated = fresh.ServerCertificates[0];
                return rotated.Thumbprint != first.Leaf.Thumbprint;
            },
            s_timeout,
            "a new connection to see a rotated certificate");

        Assert.Contains(rotated!.Thumbprint, agent.Installed.Skip(1).Select(c => c.Leaf.Thumbprint));
        Assert.Equal(["spiffe://cluster.local/ns/apps/sa/waypoint"], X509Names.GetUriSans(rotated));

        // The connection opened before the rotation still works and was never re-established.
        (await established.Http.GetAsync("/after")).EnsureSuccessStatusCode();
        Assert.Equal(1, established.Connections);
        Assert.Single(established.ServerCertificates);
    }

    [Fact]
    public async Task Upstream_Context_Presents_Our_Certificate_And_Verifies_The_Peer()
    {
        await using var agent = await AgentHost.StartAsync();
        await using var backend = await EchoBackend.StartAsync("unused");
        var certificate = await agent.WaitForCertificateAsync();
        await using var upstream = await TlsPeerServer.StartAsync(agent.Ca.Ca.IssueWorkloadCertificate("spiffe://cluster.local/ns/apps/sa/backend"));
        await using var envoy = await StartEnvoyAsync(agent, backend.EndPoint, upstream.EndPoint);
        var port = await envoy.GetListenerPortAsync("outbound");
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = s_timeout };

        using var response = await http.GetAsync("/through");

        Assert.True(response.IsSuccessStatusCode, $"{response.StatusCode}: {await response.Content.ReadAsStringAsync()}\n{upstream.Logs}");
        Assert.Equal("HTTP/2", await response.Content.ReadAsStringAsync());
        var client = Assert.Single(upstream.ClientCertificates.DistinctBy(c => c.Thumbprint));
        Assert.Equal(certificate.Leaf.Thumbprint, client.Thumbprint);
    }

    [Theory]
    [InlineData("spiffe://other.domain/ns/apps/sa/backend", false)]
    [InlineData("spiffe://cluster.local/ns/apps/sa/backend", true)]
    public async Task Upstream_Context_Refuses_A_Peer_From_Another_Root_Or_Trust_Domain(string peerIdentity, bool foreignRoot)
    {
        await using var agent = await AgentHost.StartAsync();
        await using var backend = await EchoBackend.StartAsync("unused");
        await agent.WaitForCertificateAsync();
        var issuer = foreignRoot ? agent.Ca.ForeignCa : agent.Ca.Ca;
        await using var upstream = await TlsPeerServer.StartAsync(issuer.IssueWorkloadCertificate(peerIdentity));
        await using var envoy = await StartEnvoyAsync(agent, backend.EndPoint, upstream.EndPoint);
        var port = await envoy.GetListenerPortAsync("outbound");
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = s_timeout };

        using var response = await http.GetAsync("/through");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(0, upstream.Requests);
    }

    private static async Task<EnvoyProcess> StartEnvoyAsync(AgentHost agent, IPEndPoint backend, IPEndPoint? upstream = null) =>
        await EnvoyProcess.StartAsync(AgentEnvoyBootstrap.Build(agent.Options.SocketPath, agent.Options.TrustDomain, backend, upstream));

    private static X509Certificate2Collection Roots(AgentHost agent) => [agent.Ca.Ca.Root];

    private static async Task AssertRefusedAsync(EnvoyProcess envoy, MeshTlsClient client, string stat)
    {
        using (client)
        {
            await Assert.ThrowsAsync<HttpRequestException>(() => client.Http.GetAsync("/"));
        }

        await envoy.WaitUntilAsync(
            async ct => (await envoy.GetStatsAsync(ct)).Any(s => s.Key.StartsWith("listener.", StringComparison.Ordinal) && s.Key.EndsWith(stat, StringComparison.Ordinal) && s.Value > 0),
            s_timeout,
            $"Envoy to count {stat}");
    }

    /// <summary>A TLS 1.3 HTTP/2 server that requires a client certificate and records it (a peer waypoint or ztunnel).</summary>
    private sealed class TlsPeerServer : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private readonly List<X509Certificate2> _clientCertificates = [];
        private int _requests;

        private TlsPeerServer(WebApplication app) => _app = app;

        public IPEndPoint EndPoint { get; private set; } = new(IPAddress.Loopback, 0);

        public int Requests => Volatile.Read(ref _requests);

        public string Logs => string.Join("\n", _app.Services.GetFakeLogCollector().GetSnapshot().Select(r => $"{r.Category} {r.Message} {r.Exception?.Message}"));

        public IReadOnlyList<X509Certificate2> ClientCertificates
        {
            get
            {
                lock (_clientCertificates)
                {
                    return [.. _clientCertificates];
                }
            }
        }

        public static async Task<TlsPeerServer> StartAsync(X509Certificate2 serverCertificate)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.Logging.AddFakeLogging();
            builder.Logging.SetMinimumLevel(LogLevel.Debug);
            TlsPeerServer? self = null;
            builder.WebHost.ConfigureKestrel(k =>
            {
                // Envoy keeps the downstream :scheme (http); HBONE peers do not care, Kestrel does unless told.
                k.AllowAlternateSchemes = true;
                k.Listen(IPAddress.Loopback, 0, l =>
                {
                    l.Protocols = HttpProtocols.Http2;
                    l.UseHttps(new HttpsConnectionAdapterOptions
                    {
                        ServerCertificate = serverCertificate,
                        SslProtocols = System.Security.Authentication.SslProtocols.Tls13,
                        ClientCertificateMode = ClientCertificateMode.RequireCertificate,
                        ClientCertificateValidation = (certificate, _, _) =>
                        {
                            lock (self!._clientCertificates)
                            {
                                self._clientCertificates.Add(X509CertificateLoader.LoadCertificate(certificate.RawData));
                            }

                            return true;
                        },
                    });
                });
            });
            var app = builder.Build();
            self = new TlsPeerServer(app);
            app.Run(async context =>
            {
                Interlocked.Increment(ref self._requests);
                await context.Response.WriteAsync(context.Request.Protocol);
            });
            await app.StartAsync();
            self.EndPoint = new IPEndPoint(IPAddress.Loopback, new Uri(app.Urls.First()).Port);
            return self;
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
