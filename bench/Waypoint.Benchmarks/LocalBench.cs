using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Waypoint.Local;

namespace Waypoint.Benchmarks;

/// <summary>
/// <c>dotnet run -c Release --project bench/Waypoint.Benchmarks -- local [--edits N] [--duration S] [--connections C]</c>:
/// measures the local rig with real Envoys. (1) Config apply latency: an HTTPRoute file is rewritten, then the time until
/// the waypoint Envoy ACKs the new snapshot and until the first request is served by the new route (median, p99).
/// (2) Data plane: wrk through client → waypoint → backend versus client → backend over the HBONE pieces alone.
/// </summary>
internal static partial class LocalBench
{
    private const string Ns = "bench";

    public static int Run(string[] args)
    {
        var edits = IntOption(args, "--edits", 200);
        var duration = IntOption(args, "--duration", 10);
        var connections = IntOption(args, "--connections", 32);
        return RunAsync(edits, duration, connections).GetAwaiter().GetResult();
    }

    private static async Task<int> RunAsync(int edits, int duration, int connections)
    {
        var directory = Directory.CreateTempSubdirectory("waypoint-bench-").FullName;
        try
        {
            await File.WriteAllTextAsync(Path.Combine(directory, "mesh.yaml"), MeshYaml);
            await File.WriteAllTextAsync(Path.Combine(directory, "route.yaml"), RouteYaml(0));
            await using var rig = await LocalRig.StartAsync(new LocalRigOptions { ConfigDirectory = directory, Watch = true });
            using var client = rig.CreateHttpClient(TimeSpan.FromSeconds(10));
            Console.WriteLine($"Rig up: waypoint {rig.Topology.Waypoints[0].Address}, services {string.Join(", ", rig.Topology.Services.Select(s => $"{s.Name}={s.Address}"))}");

            await MeasureApplyAsync(rig, client, directory, edits);
            MeasureDataPlane(rig, duration, connections);
            return 0;
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static async Task MeasureApplyAsync(LocalRig rig, HttpClient client, string directory, int edits)
    {
        var toAck = new List<double>();
        var toServed = new List<double>();
        var url = new Uri($"http://echo.{Ns}.svc.cluster.local/apply");
        for (var i = 1; i <= edits; i++)
        {
            var applied = new TaskCompletionSource<LocalApplyResult>(TaskCreationOptions.RunContinuationsAsynchronously);
            void OnApplied(LocalApplyResult result)
            {
                if (!result.Rejected)
                {
                    applied.TrySetResult(result);
                }
            }

            rig.Applied += OnApplied;
            var clock = Stopwatch.StartNew();
            await File.WriteAllTextAsync(Path.Combine(directory, "route.yaml"), RouteYaml(i));
            var served = WaitUntilServedAsync(client, url, i, clock);
            var result = await applied.Task.WaitAsync(TimeSpan.FromSeconds(30));
            rig.Applied -= OnApplied;
            await rig.WaitForAckAsync(result).WaitAsync(TimeSpan.FromSeconds(30));
            toAck.Add(clock.Elapsed.TotalMilliseconds);
            toServed.Add(await served);
        }

        Console.WriteLine();
        Console.WriteLine($"Config apply latency over {edits} HTTPRoute edits (file write → ..., includes the watcher's {rig.Options.WatchDebounce.TotalMilliseconds:0} ms debounce):");
        Console.WriteLine($"  → waypoint Envoy ACK (LDS, RDS, CDS): median {Percentile(toAck, 50):0.0} ms, p99 {Percentile(toAck, 99):0.0} ms");
        Console.WriteLine($"  → first request served by new route: median {Percentile(toServed, 50):0.0} ms, p99 {Percentile(toServed, 99):0.0} ms");
    }

    /// <summary>Sends requests back to back until the backend reports the header only edit <paramref name="generation"/> adds.</summary>
    private static async Task<double> WaitUntilServedAsync(HttpClient client, Uri url, int generation, Stopwatch clock)
    {
        var expected = generation.ToString(CultureInfo.InvariantCulture);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (true)
        {
            using var response = await client.GetAsync(url, timeout.Token);
            var body = await response.Content.ReadAsStringAsync(timeout.Token);
            if (response.StatusCode == HttpStatusCode.OK && Waypoint.Local.Echo.EchoReply.Parse(body).Header("x-edit") == expected)
            {
                return clock.Elapsed.TotalMilliseconds;
            }
        }
    }

    private static void MeasureDataPlane(LocalRig rig, int duration, int connections)
    {
        var viaWaypoint = rig.Topology.FindService("echo", Ns)!;
        var direct = rig.Topology.FindService("direct", Ns)!;
        var withWaypoint = Wrk(viaWaypoint.Address, $"echo.{Ns}.svc.cluster.local", duration, connections);
        var hboneOnly = Wrk(direct.Address, $"direct.{Ns}.svc.cluster.local", duration, connections);
        Console.WriteLine();
        Console.WriteLine($"Data plane (wrk -t2 -c{connections} -d{duration}s, GET / → echo JSON, one machine, 2 cores shared by all Envoys, the echo app and wrk):");
        Console.WriteLine($"  client → waypoint → backend : {withWaypoint.Rps,9:0} req/s, p50 {withWaypoint.P50}, p99 {withWaypoint.P99}");
        Console.WriteLine($"  client → backend (HBONE only): {hboneOnly.Rps,9:0} req/s, p50 {hboneOnly.P50}, p99 {hboneOnly.P99}");
        Console.WriteLine($"  ratio waypoint / HBONE-only throughput: {withWaypoint.Rps / hboneOnly.Rps:0.00}");
    }

    private static (double Rps, string P50, string P99) Wrk(IPAddress address, string host, int duration, int connections)
    {
        var start = new ProcessStartInfo("wrk") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "-t2", $"-c{connections}", $"-d{duration}s", "--latency", "-H", $"Host: {host}", $"http://{address}/" })
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("wrk did not start (apt-get install -y wrk).");
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        var rps = double.Parse(RequestsPerSecond().Match(output).Groups[1].Value, CultureInfo.InvariantCulture);
        var errors = Errors().Match(output);
        if (errors.Success)
        {
            Console.WriteLine($"  ({host}: {errors.Value.Trim()})");
        }

        return (rps, Latency(output, "50%"), Latency(output, "99%"));
    }

    private static string Latency(string output, string percentile) =>
        Regex.Match(output, $@"^\s*{Regex.Escape(percentile)}\s+(\S+)", RegexOptions.Multiline).Groups[1].Value;

    private static double Percentile(List<double> values, double percentile)
    {
        var sorted = values.Order().ToArray();
        var rank = (int)Math.Ceiling(percentile / 100.0 * sorted.Length) - 1;
        return sorted[Math.Clamp(rank, 0, sorted.Length - 1)];
    }

    private static int IntOption(string[] args, string name, int fallback)
    {
        var index = Array.IndexOf(args, name);
        return index >= 0 && index + 1 < args.Length ? int.Parse(args[index + 1], CultureInfo.InvariantCulture) : fallback;
    }

    private static string RouteYaml(int generation) => $$"""
        apiVersion: gateway.networking.k8s.io/v1
        kind: HTTPRoute
        metadata:
          name: echo
          namespace: {{Ns}}
        spec:
          parentRefs:
          - { group: "", kind: Service, name: echo, port: 80 }
          rules:
          - filters:
            - type: RequestHeaderModifier
              requestHeaderModifier:
                set: [{ name: x-edit, value: "{{generation}}" }]
            backendRefs: [{ name: echo, port: 80 }]
        """;

    private const string MeshYaml = """
        apiVersion: v1
        kind: Namespace
        metadata: { name: bench, labels: { istio.io/use-waypoint: waypoint } }
        ---
        apiVersion: gateway.networking.k8s.io/v1
        kind: Gateway
        metadata: { name: waypoint, namespace: bench }
        spec:
          gatewayClassName: kgateway-waypoint
          listeners: [{ name: mesh, port: 15008, protocol: HBONE }]
        ---
        apiVersion: v1
        kind: Service
        metadata: { name: echo, namespace: bench }
        spec:
          selector: { app: echo }
          ports: [{ name: http, port: 80, targetPort: 8080 }]
        ---
        apiVersion: v1
        kind: Pod
        metadata: { name: echo, namespace: bench, labels: { app: echo } }
        spec:
          containers: [{ name: echo, image: echo, ports: [{ containerPort: 8080 }] }]
        ---
        apiVersion: v1
        kind: Service
        metadata: { name: direct, namespace: bench, labels: { istio.io/use-waypoint: none } }
        spec:
          selector: { app: direct }
          ports: [{ name: http, port: 80, targetPort: 8080 }]
        ---
        apiVersion: v1
        kind: Pod
        metadata: { name: direct, namespace: bench, labels: { app: direct } }
        spec:
          containers: [{ name: echo, image: echo, ports: [{ containerPort: 8080 }] }]
        """;

    [GeneratedRegex(@"Requests/sec:\s+([0-9.]+)")]
    private static partial Regex RequestsPerSecond();

    [GeneratedRegex(@"Non-2xx or 3xx responses: \d+|Socket errors:[^\n]*")]
    private static partial Regex Errors();
}
