using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Waypoint.Telemetry.RequestMetrics;

namespace Waypoint.Translator.Tests.Acceptance;

/// <summary>
/// The agent's request-metrics hosting, as the agent command runs it: the access log service on a Unix socket and the
/// merged Prometheus endpoint on loopback (Envoy's stats from <see cref="EnvoyAdmin"/>, then the <c>istio_*</c> series).
/// Shared by the acceptance tests and the <c>request-metrics-cost</c> benchmark (which runs it in a process of its own).
/// </summary>
internal sealed class RequestMetricsAgent : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly string _directory;
    private readonly HttpClient _scraper;

    private RequestMetricsAgent(WebApplication app, string directory, string socketPath, int port)
    {
        _app = app;
        _directory = directory;
        SocketPath = socketPath;
        Port = port;
        // As Prometheus scrapes: it asks for gzip (the merged answer must still be one valid text document).
        _scraper = new HttpClient(new SocketsHttpHandler { AutomaticDecompression = DecompressionMethods.All }) { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
    }

    public string SocketPath { get; }

    /// <summary>The loopback port of <c>/stats/prometheus</c>.</summary>
    public int Port { get; }

    public HttpClient? EnvoyAdmin { get; set; }

    public static async Task<RequestMetricsAgent> StartAsync()
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
        RequestMetricsAgent? agent = null;
        app.UseMergedPrometheus(port, "/stats/prometheus", async ct => agent?.EnvoyAdmin is { } admin ? await admin.GetStringAsync(new Uri("stats/prometheus", UriKind.Relative), ct) : null);
        app.MapWaypointRequestMetrics();
        await app.StartAsync();
        agent = new RequestMetricsAgent(app, directory, socketPath, port);
        return agent;
    }

    /// <summary>Polls the agent's <c>/stats/prometheus</c> until <paramref name="condition"/> holds (Envoy flushes its entries every second).</summary>
    public Task<string> ScrapeUntilAsync(Func<string, bool> condition, TimeSpan timeout) => ScrapeUntilAsync(_scraper, condition, timeout);

    /// <summary>As the instance method, for an agent in another process (its scrape port on loopback).</summary>
    public static async Task<string> ScrapeUntilAsync(HttpClient scraper, Func<string, bool> condition, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(scraper);
        ArgumentNullException.ThrowIfNull(condition);
        var deadline = DateTime.UtcNow + timeout;
        var text = string.Empty;
        while (DateTime.UtcNow < deadline)
        {
            text = await scraper.GetStringAsync(new Uri("stats/prometheus", UriKind.Relative));
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
