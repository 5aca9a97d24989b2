using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Waypoint.Translator.Tests.Acceptance;

/// <summary>
/// The agent's merged Prometheus endpoint, as the agent command serves it, on loopback: Envoy's stats from
/// <see cref="EnvoyAdmin"/>, its raw request stats rendered as the <c>istio_*</c> series.
/// Shared by the acceptance tests and the <c>request-metrics-cost</c> benchmark (which runs it in a process of its own).
/// </summary>
internal sealed class RequestMetricsAgent : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly HttpClient _scraper;

    private RequestMetricsAgent(WebApplication app, int port)
    {
        _app = app;
        Port = port;
        // As Prometheus scrapes: it asks for gzip (the merged answer must still be one valid text document).
        _scraper = new HttpClient(new SocketsHttpHandler { AutomaticDecompression = DecompressionMethods.All }) { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
    }

    /// <summary>The loopback port of <c>/stats/prometheus</c>.</summary>
    public int Port { get; }

    public HttpClient? EnvoyAdmin { get; set; }

    public static async Task<RequestMetricsAgent> StartAsync()
    {
        var port = FreePort();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddWaypointPrometheus("Waypoint.Agent");
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, port, l => l.Protocols = HttpProtocols.Http1));
        var app = builder.Build();
        RequestMetricsAgent? agent = null;
        app.UseMergedPrometheus(port, "/stats/prometheus", async ct => agent?.EnvoyAdmin is { } admin ? await admin.GetStringAsync(new Uri("stats/prometheus", UriKind.Relative), ct) : null);
        await app.StartAsync();
        agent = new RequestMetricsAgent(app, port);
        return agent;
    }

    /// <summary>Polls the agent's <c>/stats/prometheus</c> until <paramref name="condition"/> holds (Envoy merges its histograms every 5 s).</summary>
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
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
