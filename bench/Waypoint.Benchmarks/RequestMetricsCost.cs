using System.Diagnostics;
using System.Globalization;
using Waypoint.Telemetry.RequestMetrics;
using Waypoint.TestKit.Envoy;
using Waypoint.TestKit.Http;
using Waypoint.Translator;
using Waypoint.Translator.Tests.Acceptance;
using Waypoint.Xds;

namespace Waypoint.Benchmarks;

/// <summary>
/// What Istio's request metrics cost a waypoint: two real waypoint Envoys fed the translator's xDS (the acceptance
/// tests' harness, HBONE from a client ztunnel Envoy with a client SPIFFE identity), one with request metrics off, one
/// with them on (Envoy's stats access logger on every chain). Each round sends a fixed number of requests through each,
/// the order alternating; a waypoint's CPU over a sample is its threads' on-CPU nanoseconds
/// (<c>/proc/&lt;pid&gt;/task/*/schedstat</c>); ratios are taken within each round, then their median and interquartile
/// range. The two waypoint Envoys share the last core, the load generator and the client Envoys the other, so the
/// generator steals from neither. The agent's share is its rendering at scrape time (<see cref="IstioRequestSeries"/>),
/// measured apart as CPU per scrape of the "on" Envoy's stats and spread over the requests of a 15 s scrape interval at
/// the measured rate. At the end the rendered <c>istio_requests_total</c> must equal the requests answered 200 with
/// metrics on: a logger that missed requests would look cheap.
/// Usage: <c>dotnet bench/Waypoint.Benchmarks/bin/Release/net10.0/Waypoint.Benchmarks.dll request-metrics-cost [requests per sample] [concurrency] [rounds]</c>.
/// </summary>
internal static class RequestMetricsCost
{
    private const string Client = "spiffe://cluster.local/ns/app/sa/client";

    public static async Task<int> RunAsync(string[] args)
    {
        var requests = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 20_000;
        var concurrency = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 4;
        var rounds = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 15;
        if (requests < concurrency || concurrency < 1 || rounds < 3)
        {
            Console.Error.WriteLine("request-metrics-cost [requests per sample >= concurrency] [concurrency >= 1] [rounds >= 3]");
            return 2;
        }

        await using var echo = await EchoBackend.StartAsync("echo");
        await using var agent = await RequestMetricsAgent.StartAsync();
        var target = new HboneTarget(WaypointEnvoyHarness.EchoAuthority, Client);
        var mesh = WaypointEnvoyHarness.Mesh(echo.EndPoint, "");
        var (off, _) = await WaypointEnvoyHarness.StartAsync(mesh, new TranslatorOptions { HboneBindAddress = "127.0.0.1", HboneBindPort = 0 }, XdsProtocol.StateOfTheWorld, target);
        await using var offDisposal = off;
        var (on, _) = await WaypointEnvoyHarness.StartAsync(mesh, new TranslatorOptions { HboneBindAddress = "127.0.0.1", HboneBindPort = 0, RequestMetrics = true }, XdsProtocol.StateOfTheWorld, target);
        await using var onDisposal = on;

        var offPid = DataPlaneLoad.FindEnvoyPid(off.Waypoint.WorkDirectory);
        var onPid = DataPlaneLoad.FindEnvoyPid(on.Waypoint.WorkDirectory);
        var pinning = DataPlaneLoad.Pin([offPid, onPid], [DataPlaneLoad.FindEnvoyPid(off.Client.WorkDirectory), DataPlaneLoad.FindEnvoyPid(on.Client.WorkDirectory)]);
        agent.EnvoyAdmin = on.Waypoint.Admin;
        Console.WriteLine($"Envoy {EnvoyBinary.Locate()} (1 worker each; off pid {offPid}, on pid {onPid}); {Environment.ProcessorCount} cores, {pinning}; load average {File.ReadAllText("/proc/loadavg").Trim()}.");
        Console.WriteLine($"{concurrency} concurrent HTTP/1.1 clients, each on its own HBONE-tunnelled connection; {rounds} rounds of {requests} requests per configuration (+{requests / 4} warm-up each), the order alternating; medians (IQR) of per-round ratios.");
        var offClients = Enumerable.Range(0, concurrency).Select(_ => off.CreateHttpClient(target)).ToArray();
        var onClients = Enumerable.Range(0, concurrency).Select(_ => on.CreateHttpClient(target)).ToArray();
        var offRounds = new List<LoadRound>();
        var onRounds = new List<LoadRound>();
        var answeredWithMetrics = 0L;
        for (var round = 0; round < rounds; round++)
        {
            foreach (var metricsOn in round % 2 == 0 ? new[] { false, true } : [true, false])
            {
                var (clients, pid) = metricsOn ? (onClients, onPid) : (offClients, offPid);
                var warmUp = await DataPlaneLoad.RunCountAsync(clients, pid, requests / 4);
                var measured = await DataPlaneLoad.RunCountAsync(clients, pid, requests);
                (metricsOn ? onRounds : offRounds).Add(measured);
                if (metricsOn)
                {
                    answeredWithMetrics += warmUp.Count + measured.Count;
                }
            }
        }

        (string, string)[] labels = [("reporter", "waypoint"), ("source_principal", Client), ("destination_service", "echo.app.svc.cluster.local"), ("response_code", "200")];
        await agent.ScrapeUntilAsync(text => PrometheusText.Value(text, "istio_requests_total", labels) == answeredWithMetrics, TimeSpan.FromSeconds(30));
        Console.WriteLine($"Envoy counted every request answered with metrics on: istio_requests_total{{reporter=\"waypoint\",source_principal=\"{Client}\",response_code=\"200\"}} = {answeredWithMetrics}.");

        // The agent's work, once per scrape: rendering the "on" Envoy's stats (read once; the admin read is Envoy's).
        var envoyText = await on.Waypoint.Admin.GetStringAsync(new Uri("stats/prometheus", UriKind.Relative));
        var scrapeUs = ScrapeCpuUs(envoyText);
        var onRate = DataPlaneLoad.Spread(onRounds.Select(r => r.RequestsPerSecond)).Median;
        var agentPerRequestUs = scrapeUs / (onRate * 15);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Agent: {scrapeUs:F0} µs CPU to render one scrape ({envoyText.Length / 1024} KiB of Envoy text); at {onRate:F0} req/s and a 15 s scrape interval, {agentPerRequestUs:F4} µs per request."));

        Console.WriteLine("| request metrics | req/s | Envoy CPU µs/request | agent CPU µs/request (scrape, 15 s) | total × off (IQR) | Envoy × off (IQR) | p50 ms | p99 ms | errors |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        Quartiles Median(IEnumerable<double> values) => DataPlaneLoad.Spread(values);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| off | {Median(offRounds.Select(r => r.RequestsPerSecond)).Median:F0} | {Median(offRounds.Select(r => r.CpuPerRequestUs(0))).Median:F1} | – | 1.000 | 1.000 | {Median(offRounds.Select(r => r.Percentile(0.50))).Median:F3} | {Median(offRounds.Select(r => r.Percentile(0.99))).Median:F3} | {offRounds.Sum(r => r.Errors)} |"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| on | {onRate:F0} | {Median(onRounds.Select(r => r.CpuPerRequestUs(0))).Median:F1} | {agentPerRequestUs:F4} | {Median(onRounds.Select((r, k) => (r.CpuPerRequestUs(0) + agentPerRequestUs) / offRounds[k].CpuPerRequestUs(0)))} | {Median(onRounds.Select((r, k) => r.CpuPerRequestUs(0) / offRounds[k].CpuPerRequestUs(0)))} | {Median(onRounds.Select(r => r.Percentile(0.50))).Median:F3} | {Median(onRounds.Select(r => r.Percentile(0.99))).Median:F3} | {onRounds.Sum(r => r.Errors)} |"));

        foreach (var client in offClients.Concat(onClients))
        {
            client.Dispose();
        }

        return 0;
    }

    /// <summary>Process CPU (user + system) per rendering of <paramref name="envoyText"/>, over enough repetitions to measure.</summary>
    private static double ScrapeCpuUs(string envoyText)
    {
        const int repetitions = 200;
        var envoy = new System.Text.StringBuilder(envoyText.Length);
        var istio = new System.Text.StringBuilder();
        IstioRequestSeries.Rewrite(envoyText, envoy, istio); // warm up
        var process = Process.GetCurrentProcess();
        process.Refresh();
        var before = process.TotalProcessorTime;
        for (var i = 0; i < repetitions; i++)
        {
            envoy.Clear();
            istio.Clear();
            IstioRequestSeries.Rewrite(envoyText, envoy, istio);
        }

        process.Refresh();
        return (process.TotalProcessorTime - before).TotalMicroseconds / repetitions;
    }
}
