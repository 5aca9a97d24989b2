using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Waypoint.TestKit.Envoy;
using Waypoint.Xds;
using Waypoint.Xds.Diagnostics;

namespace Waypoint.Controller.Tests.Observability;

/// <summary>
/// The controller's Prometheus endpoint as the controller command hosts it (OpenTelemetry's exporter, /metrics on its
/// own port): the names it renders are istiod's where istiod has one, and every control-plane series the shipped
/// Grafana dashboard queries is one of them.
/// </summary>
public sealed partial class ControllerMetricsEndpointTests
{
    [Fact]
    public async Task Metrics_Endpoint_Renders_Istiod_Names_And_Every_Control_Plane_Series_Of_The_Dashboard()
    {
        var port = FreePort();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton<XdsServerStatus>();
        builder.Services.AddSingleton<XdsMetrics>();
        builder.Services.AddSingleton<ControllerMetrics>();
        builder.Services.AddWaypointPrometheus(XdsMetrics.MeterName, ControllerMetrics.MeterName);
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, port, l => l.Protocols = HttpProtocols.Http1));
        await using var app = builder.Build();
        app.UseWaypointPrometheus(port, "/metrics");
        await app.StartAsync();

        var xds = app.Services.GetRequiredService<XdsMetrics>();
        var controller = app.Services.GetRequiredService<ControllerMetrics>();
        controller.Observe(() => 3, () => true);
        xds.Pushed(XdsTypeUrls.Listener);
        xds.Pushed(XdsTypeUrls.Listener);
        xds.Nacked(XdsTypeUrls.RouteConfiguration);
        xds.Answered(XdsTypeUrls.Listener, accepted: true, TimeSpan.FromMilliseconds(12));
        controller.Reconciled("Gateway", success: true, TimeSpan.FromMilliseconds(5));
        controller.Reconciled("Gateway", success: false, TimeSpan.FromMilliseconds(5));
        controller.Translated(TimeSpan.FromMilliseconds(40), errors: 0);
        controller.Waited(TimeSpan.FromMilliseconds(3));

        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
        var text = await http.GetStringAsync(new Uri("metrics", UriKind.Relative));

        Assert.Matches(@"(?m)^pilot_xds_pushes_total\{[^}]*type=""lds""[^}]*\} 2", text);
        Assert.Matches(@"(?m)^pilot_total_xds_rejects_total\{[^}]*type=""rds""[^}]*\} 1", text);
        Assert.Matches(@"(?m)^waypoint_controller_queue_depth(\{[^}]*\})? 3", text);
        Assert.Matches(@"(?m)^waypoint_controller_leader(\{[^}]*\})? 1", text);
        Assert.Matches(@"(?m)^waypoint_controller_reconciles_total\{[^}]*result=""error""[^}]*\} 1", text);
        Assert.Matches(@"(?m)^waypoint_controller_queue_duration_seconds_count(\{[^}]*\})? 1", text);
        Assert.Matches(@"(?m)^waypoint_controller_queue_duration_seconds_bucket\{[^}]*le=""0.005""[^}]*\} 1", text);

        var dashboard = JsonNode.Parse(File.ReadAllText(Path.Combine(EnvoyBinary.FindRepositoryRoot()!, "manifests", "dashboards", "waypoint-dashboard.json")))!;
        var queried = dashboard["panels"]!.AsArray()
            .SelectMany(p => p!["targets"]?.AsArray() ?? [])
            .SelectMany(t => SeriesName().Matches(t!["expr"]!.GetValue<string>()).Select(m => m.Groups[1].Value))
            .Where(n => n.StartsWith("pilot_", StringComparison.Ordinal) || n.StartsWith("waypoint_controller_", StringComparison.Ordinal) || n.StartsWith("waypoint_xds_", StringComparison.Ordinal))
            // pilot_xds counts connected streams, which this test has none of (ADS tests cover the streams themselves).
            .Where(n => n != "pilot_xds")
            .Distinct()
            .ToList();
        Assert.NotEmpty(queried);
        foreach (var name in queried)
        {
            Assert.True(Regex.IsMatch(text, $"(?m)^{Regex.Escape(name)}[{{ ]"), $"The dashboard queries '{name}', which /metrics does not render.");
        }
    }

    [GeneratedRegex(@"\b([a-z][a-z0-9_]*)\s*(?:\{|\[|\))")]
    private static partial Regex SeriesName();

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
