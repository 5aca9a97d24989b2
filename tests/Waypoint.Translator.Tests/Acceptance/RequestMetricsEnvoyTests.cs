using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Waypoint.Telemetry.RequestMetrics;
using Waypoint.TestKit.Http;
using Waypoint.Xds;

namespace Waypoint.Translator.Tests.Acceptance;

/// <summary>
/// Istio's request metrics on upstream Envoy: requests through HBONE into a real waypoint Envoy, whose access log
/// entries stream to the agent's access log service (the same hosting the agent runs), scraped from the agent's merged
/// <c>/stats/prometheus</c> as Prometheus would.
/// </summary>
public sealed class RequestMetricsEnvoyTests
{
    private const string Client = "spiffe://cluster.local/ns/app/sa/client";
    private const string DbAuthority = "10.96.0.12:5432";

    private static string DbService(IPEndPoint backend) => $$$"""
        apiVersion: v1
        kind: Service
        metadata: {name: db, namespace: app}
        spec:
          clusterIP: 10.96.0.12
          ports: [{name: tcp-db, port: 5432, targetPort: {{{backend.Port}}}}]
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {name: db-1, namespace: app, labels: {kubernetes.io/service-name: db}}
        addressType: IPv4
        ports: [{name: tcp-db, port: {{{backend.Port}}}}]
        endpoints: [{addresses: ["{{{backend.Address}}}"], conditions: {ready: true}}]
        ---

        """;

    [Fact]
    public async Task Requests_And_Tcp_Connections_Become_Istio_Series_With_The_Waypoint_Reporter_And_The_Client_Principal()
    {
        await using var echo = await EchoBackend.StartAsync("echo");
        await using var agent = await MetricsAgent.StartAsync();
        HboneTarget[] targets = [new(WaypointEnvoyHarness.EchoAuthority, Client), new(DbAuthority, Client)];
        var options = new TranslatorOptions { HboneBindAddress = "127.0.0.1", HboneBindPort = 0, RequestMetricsSocketPath = agent.SocketPath };
        var (harness, _) = await WaypointEnvoyHarness.StartAsync(WaypointEnvoyHarness.Mesh(echo.EndPoint, DbService(echo.EndPoint)), options, XdsProtocol.StateOfTheWorld, targets);
        await using var _ = harness;
        agent.EnvoyAdmin = harness.Waypoint.Admin;

        using (var http = harness.CreateHttpClient(targets[0]))
        {
            for (var i = 0; i < 3; i++)
            {
                using var response = await http.GetAsync(new Uri("/hello", UriKind.Relative));
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }
        }

        using (var overTcp = harness.CreateHttpClient(targets[1]))
        {
            using var response = await overTcp.GetAsync(new Uri("/over-tcp", UriKind.Relative)); // HTTP bytes on the TCP chain
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        (string, string)[] http200 =
        [
            ("reporter", "waypoint"),
            ("source_principal", Client),
            ("source_workload_namespace", "app"),
            ("destination_service", "echo.app.svc.cluster.local"),
            ("destination_service_name", "echo"),
            ("destination_service_namespace", "app"),
            ("destination_workload_namespace", "app"),
            ("request_protocol", "http"),
            ("response_code", "200"),
            ("response_flags", "-"),
            ("connection_security_policy", "mutual_tls"),
        ];
        (string, string)[] tcp =
        [
            ("reporter", "waypoint"),
            ("source_principal", Client),
            ("destination_service", "db.app.svc.cluster.local"),
            ("request_protocol", "tcp"),
            ("connection_security_policy", "mutual_tls"),
        ];

        // Envoy flushes its access log buffer every second: poll the scrape until the entries have arrived.
        var scrape = await agent.ScrapeUntilAsync(
            text => PrometheusText.Value(text, "istio_requests_total", http200) == 3
                && PrometheusText.Value(text, "istio_tcp_connections_closed_total", tcp) == 1,
            TimeSpan.FromSeconds(30));

        Assert.Equal(3, PrometheusText.Value(scrape, "istio_request_duration_milliseconds_count", http200));
        Assert.Equal(3, PrometheusText.Value(scrape, "istio_request_bytes_count", http200));
        Assert.True(PrometheusText.Value(scrape, "istio_response_bytes_sum", http200) > 0, "response bytes summed");
        Assert.Equal(1, PrometheusText.Value(scrape, "istio_tcp_connections_opened_total", tcp));
        Assert.True(PrometheusText.Value(scrape, "istio_tcp_received_bytes_total", tcp) > 0, "TCP bytes received from the client");
        Assert.True(PrometheusText.Value(scrape, "istio_tcp_sent_bytes_total", tcp) > 0, "TCP bytes sent to the client");
        // The scrape is istio-agent's merge: Envoy's own stats come first.
        Assert.NotNull(PrometheusText.Value(scrape, "envoy_server_live", []));

        // Every request series the shipped Grafana dashboard queries is one this scrape renders.
        var dashboard = File.ReadAllText(Path.Combine(Waypoint.TestKit.Envoy.EnvoyBinary.FindRepositoryRoot()!, "manifests", "dashboards", "waypoint-dashboard.json"));
        var queried = System.Text.RegularExpressions.Regex.Matches(dashboard, @"\b(istio_[a-z_]+)").Select(m => m.Groups[1].Value).Distinct().ToList();
        Assert.NotEmpty(queried);
        Assert.All(queried, name => Assert.Contains("\n" + name + "{", scrape, StringComparison.Ordinal));
    }

    /// <summary>The agent's request-metrics hosting: the access log service on a Unix socket and the merged Prometheus endpoint on loopback.</summary>
    private sealed class MetricsAgent : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private readonly string _directory;
        private readonly HttpClient _scraper;

        private MetricsAgent(WebApplication app, string directory, string socketPath, int port)
        {
            _app = app;
            _directory = directory;
            SocketPath = socketPath;
            _scraper = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
        }

        public string SocketPath { get; }

        public HttpClient? EnvoyAdmin { get; set; }

        public static async Task<MetricsAgent> StartAsync()
        {
            var directory = Path.Combine(Path.GetTempPath(), "wp-als-" + Guid.NewGuid().ToString("N")[..8]);
            Directory.CreateDirectory(directory);
            var socketPath = Path.Combine(directory, "als.sock");
            var port = FreePort();
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.Services.AddWaypointRequestMetrics();
            builder.Services.AddWaypointPrometheus(IstioRequestMetrics.MeterName);
            builder.WebHost.ConfigureKestrel(k =>
            {
                k.ListenWaypointRequestMetrics(socketPath);
                k.Listen(IPAddress.Loopback, port, l => l.Protocols = HttpProtocols.Http1);
            });
            var app = builder.Build();
            MetricsAgent? agent = null;
            app.UseMergedPrometheus(port, "/stats/prometheus", async ct => agent?.EnvoyAdmin is { } admin ? await admin.GetStringAsync(new Uri("stats/prometheus", UriKind.Relative), ct) : null);
            app.MapWaypointRequestMetrics();
            await app.StartAsync();
            agent = new MetricsAgent(app, directory, socketPath, port);
            return agent;
        }

        public async Task<string> ScrapeUntilAsync(Func<string, bool> condition, TimeSpan timeout)
        {
            var deadline = DateTime.UtcNow + timeout;
            var text = string.Empty;
            while (DateTime.UtcNow < deadline)
            {
                text = await _scraper.GetStringAsync(new Uri("stats/prometheus", UriKind.Relative));
                if (condition(text))
                {
                    return text;
                }

                await Task.Delay(200);
            }

            var istio = string.Join('\n', text.Split('\n').Where(l => l.StartsWith("istio_", StringComparison.Ordinal)));
            throw new TimeoutException($"The scrape did not show the expected series within {timeout}. istio_* lines:\n{istio}");
        }

        public async ValueTask DisposeAsync()
        {
            _scraper.Dispose();
            await _app.DisposeAsync();
            Directory.Delete(_directory, recursive: true);
        }

        private static int FreePort()
        {
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            return ((IPEndPoint)listener.LocalEndpoint).Port;
        }
    }
}

/// <summary>Reads samples from Prometheus' text format.</summary>
internal static class PrometheusText
{
    /// <summary>The sum of the samples of <paramref name="name"/> whose labels include all of <paramref name="labels"/>; null if there are none.</summary>
    public static double? Value(string text, string name, IReadOnlyList<(string Name, string Value)> labels)
    {
        double? total = null;
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0 || line[0] == '#' || !line.StartsWith(name, StringComparison.Ordinal))
            {
                continue;
            }

            var rest = line[name.Length..];
            if (rest.Length == 0 || (rest[0] != '{' && rest[0] != ' '))
            {
                continue; // a longer name with this prefix
            }

            var labelText = rest[0] == '{' ? rest[1..rest.LastIndexOf('}')] : string.Empty;
            if (labels.All(l => labelText.Contains($"{l.Name}=\"{l.Value}\"", StringComparison.Ordinal)))
            {
                var value = rest[(rest.LastIndexOf(' ') + 1)..];
                if (rest[0] == '{')
                {
                    var afterLabels = rest[(rest.LastIndexOf('}') + 1)..].Trim().Split(' ');
                    value = afterLabels[0];
                }

                total = (total ?? 0) + double.Parse(value, CultureInfo.InvariantCulture);
            }
        }

        return total;
    }
}
