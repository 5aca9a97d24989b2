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
/// with them on (Envoy's stats access logger on every chain). Rounds alternate the order of the two configurations;
/// ratios are taken within each round, then their median. The agent's share is its rendering at scrape time
/// (<see cref="IstioRequestSeries"/>), measured apart as CPU per scrape of the "on" Envoy's stats and spread over the
/// requests of a 15 s scrape interval at the measured rate. At the end the rendered <c>istio_requests_total</c> must
/// equal the requests answered 200 with metrics on: a logger that missed requests would look cheap.
/// Usage: <c>dotnet bench/Waypoint.Benchmarks/bin/Release/net10.0/Waypoint.Benchmarks.dll request-metrics-cost [seconds] [concurrency] [rounds]</c>.
/// </summary>
internal static class RequestMetricsCost
{
    private const string Client = "spiffe://cluster.local/ns/app/sa/client";

    public static async Task<int> RunAsync(string[] args)
    {
        var seconds = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 10;
        var concurrency = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 8;
        var rounds = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 5;

        await using var echo = await EchoBackend.StartAsync("echo");
        await using var agent = await RequestMetricsAgent.StartAsync();
        var target = new HboneTarget(WaypointEnvoyHarness.EchoAuthority, Client);
        var mesh = WaypointEnvoyHarness.Mesh(echo.EndPoint, "");
        var (off, _) = await WaypointEnvoyHarness.StartAsync(mesh, new TranslatorOptions { HboneBindAddress = "127.0.0.1", HboneBindPort = 0 }, XdsProtocol.StateOfTheWorld, target);
        await using var offDisposal = off;
        var (on, _) = await WaypointEnvoyHarness.StartAsync(mesh, new TranslatorOptions { HboneBindAddress = "127.0.0.1", HboneBindPort = 0, RequestMetrics = true }, XdsProtocol.StateOfTheWorld, target);
        await using var onDisposal = on;

        int[] offPids = [DataPlaneLoad.FindEnvoyPid(off.Waypoint.WorkDirectory)];
        int[] onPids = [DataPlaneLoad.FindEnvoyPid(on.Waypoint.WorkDirectory)];
        agent.EnvoyAdmin = on.Waypoint.Admin;
        Console.WriteLine($"Envoy {EnvoyBinary.Locate()} (1 worker each; off pid {offPids[0]}, on pid {onPids[0]}); {Environment.ProcessorCount} cores; {concurrency} concurrent HTTP/1.1 clients, each on its own HBONE-tunnelled connection; {rounds} rounds of {seconds}s per configuration (+1s warm-up each), the order alternating; medians over rounds.");
        var offClients = Enumerable.Range(0, concurrency).Select(_ => off.CreateHttpClient(target)).ToArray();
        var onClients = Enumerable.Range(0, concurrency).Select(_ => on.CreateHttpClient(target)).ToArray();
        var offRounds = new List<LoadRound>();
        var onRounds = new List<LoadRound>();
        var answeredWithMetrics = 0L;
        for (var round = 0; round < rounds; round++)
        {
            foreach (var metricsOn in round % 2 == 0 ? new[] { false, true } : [true, false])
            {
                var (clients, pids) = metricsOn ? (onClients, onPids) : (offClients, offPids);
                var warmUp = await DataPlaneLoad.RunAsync(clients, pids, TimeSpan.FromSeconds(1));
                var measured = await DataPlaneLoad.RunAsync(clients, pids, TimeSpan.FromSeconds(seconds));
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
        var onRate = DataPlaneLoad.Median(onRounds.Select(r => r.RequestsPerSecond));
        var agentPerRequestUs = scrapeUs / (onRate * 15);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Agent: {scrapeUs:F0} µs CPU to render one scrape ({envoyText.Length / 1024} KiB of Envoy text); at {onRate:F0} req/s and a 15 s scrape interval, {agentPerRequestUs:F4} µs per request."));

        Console.WriteLine("| request metrics | req/s | Envoy CPU µs/request | agent CPU µs/request (scrape, 15 s) | total × off | Envoy × off | p50 ms | p99 ms | errors |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        var median = DataPlaneLoad.Median;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| off | {median(offRounds.Select(r => r.RequestsPerSecond)):F0} | {median(offRounds.Select(r => r.CpuPerRequestUs(0))):F1} | – | 1.000 | 1.000 | {median(offRounds.Select(r => r.Percentile(0.50))):F3} | {median(offRounds.Select(r => r.Percentile(0.99))):F3} | {offRounds.Sum(r => r.Errors)} |"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| on | {onRate:F0} | {median(onRounds.Select(r => r.CpuPerRequestUs(0))):F1} | {agentPerRequestUs:F4} | {median(onRounds.Select((r, k) => (r.CpuPerRequestUs(0) + agentPerRequestUs) / offRounds[k].CpuPerRequestUs(0))):F3} | {median(onRounds.Select((r, k) => r.CpuPerRequestUs(0) / offRounds[k].CpuPerRequestUs(0))):F3} | {median(onRounds.Select(r => r.Percentile(0.50))):F3} | {median(onRounds.Select(r => r.Percentile(0.99))):F3} | {onRounds.Sum(r => r.Errors)} |"));

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
