using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using Waypoint.Box;
using Waypoint.Box.Network;
using Waypoint.Local.Box;

namespace Waypoint.Benchmarks;

/// <summary>
/// <c>route-edit-load [SECONDS] [WORKERS] [EDIT_EVERY_MS]</c> (root; the host built in Release): <c>waypoint local</c>
/// over a copy of examples/basic, as a user runs it. WORKERS keep-alive HTTP clients in the ambient client pod send
/// GETs to <c>echo.demo</c> (ztunnel → HBONE → the waypoint pod → HBONE → an echo pod) for SECONDS with no edit (the
/// baseline), then SECONDS more while the HTTPRoute's file is edited every EDIT_EVERY_MS (a response header carries
/// the edit's number, so each edit is seen arriving). Both phases report requests, failures, connections the clients
/// had to open again (a reset or closed HBONE tunnel; with keep-alive and no resets there are none), p50/p99; the edit
/// phase also the time from each file write to the first response carrying it, and the waypoint Envoy's
/// <c>listener_manager</c> counters before and after (an in-place listener update drains the service's chain).
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
internal static class RouteEditUnderLoad
{
    private const string RouteFile = "20-routing.yaml";
    private const string GenerationHeader = "x-route-generation";
    private const string EditedRule = "responseHeaderModifier:\n        set: [{ name: x-routed-by, value: waypoint }]";

    public static async Task<int> RunAsync(string[] args)
    {
        var seconds = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 30;
        var workers = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 8;
        var editEvery = TimeSpan.FromMilliseconds(args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 2000);
        var root = BenchPaths.Root();
        var host = Path.Combine(root, "src", "Waypoint.Host", "bin", "Release", "net10.0", "waypoint.dll");
        var work = Directory.CreateTempSubdirectory("waypoint-bench-route-edit-").FullName;
        var config = Path.Combine(work, "config");
        Directory.CreateDirectory(config);
        foreach (var file in Directory.EnumerateFiles(Path.Combine(root, "examples", "basic")))
        {
            File.Copy(file, Path.Combine(config, Path.GetFileName(file)));
        }

        var routeText = await File.ReadAllTextAsync(Path.Combine(config, RouteFile));
        if (!routeText.Contains(EditedRule, StringComparison.Ordinal))
        {
            Console.Error.WriteLine($"examples/basic/{RouteFile} no longer has the rule this bench edits");
            return 2;
        }

        var state = Path.Combine(work, "state.json");
        using var local = BenchProcess.Start("dotnet", [host, "local", config, "--state-file", state], redirect: true);
        var up = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        local.OutputDataReceived += (_, e) =>
        {
            if (e.Data is { } line && line.StartsWith("The local mesh is up (", StringComparison.Ordinal))
            {
                up.TrySetResult();
            }
        };
        local.ErrorDataReceived += (_, _) => { };
        local.BeginOutputReadLine();
        local.BeginErrorReadLine();
        try
        {
            await up.Task.WaitAsync(TimeSpan.FromMinutes(8));
            var mesh = LocalBoxState.TryRead(state) ?? throw new InvalidOperationException($"{state} is not readable");
            using var connection = await KubernetesBox.AttachAsync(mesh.BoxStateFile, CancellationToken.None);
            var client = await WaitAsync(() => LocalBoxState.TryRead(state)?.FindPod(LocalClientPod.Key), "the client pod in the state file");
            var waypointPod = await WaitAsync(() => LocalBoxState.TryRead(state)?.Pods.FirstOrDefault(p => p.Namespace == "demo" && p.Name.StartsWith("waypoint-", StringComparison.Ordinal)), "the waypoint pod in the state file");
            var echo = await WaitAsync(() => LocalBoxState.TryRead(state)?.ResolveService("echo.demo.svc.cluster.local"), "the echo Service in the state file");
            using var clientNetwork = new BoxNetworkNamespace(connection.State.OutsidePath(client.NetworkNamespacePath));
            var target = new IPEndPoint(IPAddress.Parse(echo.ClusterIp!), 80);
            using var admin = new HttpClient(connection.Network.CreateHandler()) { Timeout = TimeSpan.FromSeconds(10) };
            var stats = new Uri($"http://{waypointPod.Address}:15090/stats/prometheus");

            var load = new LoadGenerator(clientNetwork, target, workers);
            await load.WarmUpAsync();

            var baseline = await load.RunAsync(TimeSpan.FromSeconds(seconds), edits: null);
            var before = await ListenerCountersAsync(admin, stats);
            var editor = new RouteEditor(Path.Combine(config, RouteFile), routeText, editEvery);
            var edited = await load.RunAsync(TimeSpan.FromSeconds(seconds), editor);
            var after = await ListenerCountersAsync(admin, stats);

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"load: {workers} keep-alive clients in the client pod → echo.demo through the waypoint, {seconds} s per phase; load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]}"));
            Console.WriteLine(baseline.Describe("no edits (baseline)"));
            Console.WriteLine(edited.Describe($"an HTTPRoute edit every {editEvery.TotalMilliseconds:0} ms"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"edits: {editor.Written.Count} written, {edited.Propagation.Count} seen in responses; file write → first response with it: p50 {Percentile(edited.Propagation, 0.5):0} ms, max {(edited.Propagation.Count == 0 ? 0 : edited.Propagation.Max()):0} ms"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"p99 ratio edits/baseline: {Percentile(edited.Latencies, 0.99) / Math.Max(Percentile(baseline.Latencies, 0.99), 0.001):0.00}"));
            foreach (var (name, value) in after)
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"waypoint Envoy {name}: {value - before.GetValueOrDefault(name):0} during the edits"));
            }

            return edited.Failures == 0 && edited.Reconnects == 0 && edited.Propagation.Count > 0 ? 0 : 1;
        }
        finally
        {
            if (!local.HasExited)
            {
                _ = BenchProcess.Signal(local.Id, 15);
                await local.WaitForExitAsync();
            }

            Directory.Delete(work, recursive: true);
        }
    }

    private static async Task<T> WaitAsync<T>(Func<T?> read, string what)
        where T : class
    {
        var limit = Stopwatch.StartNew();
        while (limit.Elapsed < TimeSpan.FromMinutes(2))
        {
            if (read() is { } value)
            {
                return value;
            }

            await Task.Delay(200);
        }

        throw new TimeoutException($"no {what} within 2 minutes");
    }

    private static readonly string[] s_listenerCounters =
    [
        "envoy_listener_manager_listener_modified",
        "envoy_listener_manager_listener_in_place_updated",
        "envoy_listener_manager_total_filter_chains_draining",
        "envoy_listener_manager_lds_update_success",
        "envoy_listener_manager_lds_update_rejected",
    ];

    private static async Task<Dictionary<string, double>> ListenerCountersAsync(HttpClient admin, Uri stats)
    {
        var text = await admin.GetStringAsync(stats);
        var counters = new Dictionary<string, double>();
        foreach (var line in text.Split('\n'))
        {
            var name = s_listenerCounters.FirstOrDefault(c => line.StartsWith(c + " ", StringComparison.Ordinal) || line.StartsWith(c + "{", StringComparison.Ordinal));
            if (name is not null && double.TryParse(line[(line.LastIndexOf(' ') + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            {
                counters[name] = counters.GetValueOrDefault(name) + value;
            }
        }

        return counters;
    }

    internal static double Percentile(IReadOnlyList<double> values, double p)
    {
        if (values.Count == 0)
        {
            return 0;
        }

        var sorted = values.Order().ToArray();
        return sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
    }

    /// <summary>Rewrites the route file with the next generation's response header, every period, as an editor saves it.</summary>
    private sealed class RouteEditor(string path, string original, TimeSpan period)
    {
        public List<(int Generation, Stopwatch Since)> Written { get; } = [];

        public async Task RunAsync(CancellationToken stop)
        {
            using var timer = new PeriodicTimer(period);
            var generation = 0;
            try
            {
                while (await timer.WaitForNextTickAsync(stop))
                {
                    generation++;
                    var text = original.Replace(EditedRule, $"responseHeaderModifier:\n        set: [{{ name: x-routed-by, value: waypoint }}, {{ name: {GenerationHeader}, value: \"{generation}\" }}]", StringComparison.Ordinal);
                    await File.WriteAllTextAsync(path, text, CancellationToken.None);
                    lock (Written)
                    {
                        Written.Add((generation, Stopwatch.StartNew()));
                    }
                }
            }
            catch (OperationCanceledException)
            {
            }
        }

        public Stopwatch? SinceWritten(int generation)
        {
            lock (Written)
            {
                return Written.FirstOrDefault(w => w.Generation == generation).Since;
            }
        }
    }

    private sealed record PhaseResult(int Requests, int Failures, int Reconnects, List<double> Latencies, List<double> Propagation, string? FirstFailure)
    {
        public string Describe(string phase) => string.Create(CultureInfo.InvariantCulture,
            $"{phase}: {Requests} requests, {Failures} failed, {Reconnects} connections reopened, p50 {Percentile(Latencies, 0.5):0.00} ms, p99 {Percentile(Latencies, 0.99):0.00} ms{(FirstFailure is null ? "" : $" (first failure: {FirstFailure})")}");
    }

    /// <summary>Keep-alive HTTP/1.1 clients whose connections open in the client pod's network namespace; counts every connection opened.</summary>
    private sealed class LoadGenerator
    {
        // Connections the clients opened, counted by their connect callback.
        private readonly StrongBox<int> _connections = new();
        private readonly HttpClient[] _clients;

        public LoadGenerator(BoxNetworkNamespace network, IPEndPoint target, int workers)
        {
            _clients = [.. Enumerable.Range(0, workers).Select(_ => Create(network, target, _connections))];
        }

        private static HttpClient Create(BoxNetworkNamespace network, IPEndPoint target, StrongBox<int> connections) =>
            new(new SocketsHttpHandler
            {
                UseProxy = false,
                MaxConnectionsPerServer = 1,
                PooledConnectionIdleTimeout = TimeSpan.FromMinutes(10),
                PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
                ConnectCallback = async (_, cancellationToken) =>
                {
                    Interlocked.Increment(ref connections.Value);
                    var socket = await network.ConnectAsync(target, cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                },
            })
            { Timeout = TimeSpan.FromSeconds(10) };

        public async Task WarmUpAsync()
        {
            var limit = Stopwatch.StartNew();
            while (true)
            {
                try
                {
                    await Task.WhenAll(_clients.Select(c => SendAsync(c)));
                    return;
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && limit.Elapsed < TimeSpan.FromMinutes(2))
                {
                    await Task.Delay(500);
                }
            }
        }

        public async Task<PhaseResult> RunAsync(TimeSpan duration, RouteEditor? edits)
        {
            var connectionsBefore = Volatile.Read(ref _connections.Value);
            var latencies = new List<double>();
            var propagation = new List<double>();
            var seenGenerations = new HashSet<int>();
            var failures = 0;
            var requests = 0;
            string? firstFailure = null;
            using var stop = new CancellationTokenSource(duration);
            var editing = edits?.RunAsync(stop.Token) ?? Task.CompletedTask;
            await Task.WhenAll(_clients.Select(client => Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    var clock = Stopwatch.StartNew();
                    try
                    {
                        var generation = await SendAsync(client);
                        var elapsed = clock.Elapsed.TotalMilliseconds;
                        lock (latencies)
                        {
                            requests++;
                            latencies.Add(elapsed);
                            if (generation is { } g && edits?.SinceWritten(g) is { } since && seenGenerations.Add(g))
                            {
                                propagation.Add(since.Elapsed.TotalMilliseconds);
                            }
                        }
                    }
                    catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or InvalidDataException)
                    {
                        lock (latencies)
                        {
                            requests++;
                            failures++;
                            firstFailure ??= ex.Message;
                        }
                    }
                }
            })));
            await editing;
            return new PhaseResult(requests, failures, Volatile.Read(ref _connections.Value) - connectionsBefore, latencies, propagation, firstFailure);
        }

        /// <summary>One GET; the route generation the response carries, if any.</summary>
        private static async Task<int?> SendAsync(HttpClient client)
        {
            using var response = await client.GetAsync(new Uri("http://echo.demo.svc.cluster.local/bench"));
            var body = await response.Content.ReadAsStringAsync();
            if (response.StatusCode != HttpStatusCode.OK || !response.Headers.Contains("x-routed-by"))
            {
                throw new InvalidDataException($"{(int)response.StatusCode} without the route's header: {body[..Math.Min(body.Length, 120)]}");
            }

            _ = JsonNode.Parse(body);
            return response.Headers.TryGetValues(GenerationHeader, out var values) && int.TryParse(values.First(), CultureInfo.InvariantCulture, out var generation) ? generation : null;
        }
    }
}
