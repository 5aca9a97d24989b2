using System.Diagnostics;
using System.Globalization;
using Waypoint.TestKit.Envoy;
using Waypoint.TestKit.Http;
using Waypoint.Translator;
using Waypoint.Translator.Tests.Acceptance;
using Waypoint.Xds;

namespace Waypoint.Benchmarks;

/// <summary>
/// What Istio's request metrics cost a waypoint: two real waypoint Envoys fed the translator's xDS (the acceptance
/// tests' harness, HBONE from a client ztunnel Envoy with a client SPIFFE identity), one with the request-metrics access
/// log stream off, one with it on, streaming to the agent's request-metrics hosting in a process of its own (so its CPU,
/// the aggregation, is measured apart). Rounds alternate the order of the two configurations; ratios are taken within
/// each round, then their median. "On" counts the agent's CPU as well as Envoy's. At the end the agent's
/// <c>istio_requests_total</c> must equal the requests answered 200 with metrics on: a stream that dropped entries would
/// look cheap.
/// Usage: <c>dotnet bench/Waypoint.Benchmarks/bin/Release/net10.0/Waypoint.Benchmarks.dll request-metrics-cost [seconds] [concurrency] [rounds]</c>.
/// </summary>
internal static class RequestMetricsCost
{
    /// <summary>The hidden subcommand the benchmark starts itself with to host the agent side.</summary>
    public const string AgentCommand = "request-metrics-agent";

    private const string Client = "spiffe://cluster.local/ns/app/sa/client";

    public static async Task<int> RunAsync(string[] args)
    {
        var seconds = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 10;
        var concurrency = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 8;
        var rounds = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 5;

        await using var echo = await EchoBackend.StartAsync("echo");
        using var agent = StartAgentProcess();
        var (socketPath, scrapePort) = await ReadAgentAddressAsync(agent);
        try
        {
            var target = new HboneTarget(WaypointEnvoyHarness.EchoAuthority, Client);
            var mesh = WaypointEnvoyHarness.Mesh(echo.EndPoint, "");
            var (off, _) = await WaypointEnvoyHarness.StartAsync(mesh, new TranslatorOptions { HboneBindAddress = "127.0.0.1", HboneBindPort = 0 }, XdsProtocol.StateOfTheWorld, target);
            await using var offDisposal = off;
            var (on, _) = await WaypointEnvoyHarness.StartAsync(mesh, new TranslatorOptions { HboneBindAddress = "127.0.0.1", HboneBindPort = 0, RequestMetricsSocketPath = socketPath }, XdsProtocol.StateOfTheWorld, target);
            await using var onDisposal = on;

            int[] offPids = [DataPlaneLoad.FindEnvoyPid(off.Waypoint.WorkDirectory)];
            int[] onPids = [DataPlaneLoad.FindEnvoyPid(on.Waypoint.WorkDirectory), agent.Id];
            Console.WriteLine($"Envoy {EnvoyBinary.Locate()} (1 worker each; off pid {offPids[0]}, on pid {onPids[0]}, agent pid {agent.Id}); {Environment.ProcessorCount} cores; {concurrency} concurrent HTTP/1.1 clients, each on its own HBONE-tunnelled connection; {rounds} rounds of {seconds}s per configuration (+1s warm-up each), the order alternating; medians over rounds.");
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

            using var scraper = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{scrapePort}/") };
            (string, string)[] labels = [("reporter", "waypoint"), ("source_principal", Client), ("destination_service", "echo.app.svc.cluster.local"), ("response_code", "200")];
            await RequestMetricsAgent.ScrapeUntilAsync(scraper, text => PrometheusText.Value(text, "istio_requests_total", labels) == answeredWithMetrics, TimeSpan.FromSeconds(30));
            Console.WriteLine($"The agent counted every request answered with metrics on: istio_requests_total{{reporter=\"waypoint\",source_principal=\"{Client}\",response_code=\"200\"}} = {answeredWithMetrics}.");

            Console.WriteLine("| request metrics | req/s | Envoy CPU µs/request | agent CPU µs/request | total CPU µs/request | total × off | Envoy × off | p50 ms | p99 ms | errors |");
            Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
            var median = DataPlaneLoad.Median;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| off | {median(offRounds.Select(r => r.RequestsPerSecond)):F0} | {median(offRounds.Select(r => r.CpuPerRequestUs(0))):F1} | – | {median(offRounds.Select(r => r.CpuPerRequestUs(0))):F1} | 1.000 | 1.000 | {median(offRounds.Select(r => r.Percentile(0.50))):F3} | {median(offRounds.Select(r => r.Percentile(0.99))):F3} | {offRounds.Sum(r => r.Errors)} |"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| on | {median(onRounds.Select(r => r.RequestsPerSecond)):F0} | {median(onRounds.Select(r => r.CpuPerRequestUs(0))):F1} | {median(onRounds.Select(r => r.CpuPerRequestUs(1))):F1} | {median(onRounds.Select(Total)):F1} | {median(onRounds.Select((r, k) => Total(r) / offRounds[k].CpuPerRequestUs(0))):F3} | {median(onRounds.Select((r, k) => r.CpuPerRequestUs(0) / offRounds[k].CpuPerRequestUs(0))):F3} | {median(onRounds.Select(r => r.Percentile(0.50))):F3} | {median(onRounds.Select(r => r.Percentile(0.99))):F3} | {onRounds.Sum(r => r.Errors)} |"));

            foreach (var client in offClients.Concat(onClients))
            {
                client.Dispose();
            }

            return 0;
        }
        finally
        {
            agent.StandardInput.Close(); // the agent's end of input is its signal to stop
            if (!agent.WaitForExit(TimeSpan.FromSeconds(30)))
            {
                agent.Kill();
            }
        }

        static double Total(LoadRound round) => round.CpuPerRequestUs(0) + round.CpuPerRequestUs(1);
    }

    /// <summary>The agent side, in this process: hosts the request-metrics service, prints its socket and scrape port, stops at the end of input.</summary>
    public static async Task<int> ServeAgentAsync()
    {
        await using var agent = await RequestMetricsAgent.StartAsync();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{agent.SocketPath} {agent.Port}"));
        while (await Console.In.ReadLineAsync() is not null)
        {
        }

        return 0;
    }

    private static Process StartAgentProcess()
    {
        var processPath = Environment.ProcessPath ?? throw new InvalidOperationException("The path of this process is unknown.");
        var start = new ProcessStartInfo(processPath) { RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(processPath) == "dotnet")
        {
            start.ArgumentList.Add(typeof(RequestMetricsCost).Assembly.Location);
        }

        start.ArgumentList.Add(AgentCommand);
        return Process.Start(start) ?? throw new InvalidOperationException("The request-metrics agent process did not start.");
    }

    private static async Task<(string SocketPath, int Port)> ReadAgentAddressAsync(Process agent)
    {
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var line = await agent.StandardOutput.ReadLineAsync(limit.Token) ?? throw new InvalidOperationException($"The request-metrics agent exited ({(agent.HasExited ? agent.ExitCode : -1)}) before it was ready.");
        var parts = line.Split(' ');
        return (parts[0], int.Parse(parts[1], CultureInfo.InvariantCulture));
    }
}
