using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Waypoint.TestKit.Envoy;
using Waypoint.Xds.Bootstrap;

namespace Waypoint.Xds.Tests.Bootstrap;

/// <summary>The bootstrap's Prometheus listener (Istio's 15090): stats for scrapers, nothing else of the admin API.</summary>
public sealed class StatsListenerTests
{
    [Fact]
    public void The_Stats_Listener_Routes_Only_The_Prometheus_Path_To_The_Admin_Cluster()
    {
        var json = JsonNode.Parse(EnvoyBootstrapBuilder.RenderJson(EnvoyBootstrapBuilder.Build(Options(adminPort: 15000, statsPort: 15090))))!;
        var listener = json["static_resources"]!["listeners"]!.AsArray().Single(l => l!["name"]!.GetValue<string>() == "prometheus_stats")!;
        Assert.Equal(15090, listener["address"]!["socket_address"]!["port_value"]!.GetValue<int>());
        var cluster = json["static_resources"]!["clusters"]!.AsArray().Single(c => c!["name"]!.GetValue<string>() == "prometheus_stats")!;
        var endpoint = cluster["load_assignment"]!["endpoints"]![0]!["lb_endpoints"]![0]!["endpoint"]!["address"]!["socket_address"]!;
        Assert.Equal("127.0.0.1", endpoint["address"]!.GetValue<string>());
        Assert.Equal(15000, endpoint["port_value"]!.GetValue<int>());
        Assert.Throws<ArgumentException>(() => EnvoyBootstrapBuilder.Build(Options(adminPort: 0, statsPort: 15090)));
    }

    [Fact]
    public async Task Real_Envoy_Serves_Prometheus_Stats_And_Hides_The_Rest_Of_The_Admin_Api()
    {
        var bootstrap = EnvoyBootstrapBuilder.RenderJson(EnvoyBootstrapBuilder.Build(Options(FreePort(), FreePort())));
        var statsPort = JsonNode.Parse(bootstrap)!["static_resources"]!["listeners"]!.AsArray()
            .Single(l => l!["name"]!.GetValue<string>() == "prometheus_stats")!["address"]!["socket_address"]!["port_value"]!.GetValue<int>();
        // No control plane: Envoy goes LIVE after the initial fetch timeout, and its static listeners accept then.
        await using var envoy = await EnvoyProcess.StartAsync(bootstrap);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{statsPort}"), Timeout = TimeSpan.FromSeconds(20) };
        var stats = await http.GetAsync("/stats/prometheus");
        Assert.Equal(HttpStatusCode.OK, stats.StatusCode);
        Assert.Contains("envoy_server_live", await stats.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/config_dump")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.PostAsync("/quitquitquit", null)).StatusCode);
        Assert.False(envoy.HasExited);
    }

    private static EnvoyBootstrapOptions Options(int adminPort, int statsPort) => new()
    {
        NodeId = "waypoint-abc.ns",
        NodeCluster = "waypoint.ns",
        XdsHost = "127.0.0.1",
        XdsPort = 9,
        AdminAddress = "127.0.0.1",
        AdminPort = adminPort,
        IncludeSdsCluster = false,
        HealthPort = null,
        HealthAddress = "127.0.0.1",
        StatsPort = statsPort,
        InitialFetchTimeout = TimeSpan.FromSeconds(1),
    };

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
