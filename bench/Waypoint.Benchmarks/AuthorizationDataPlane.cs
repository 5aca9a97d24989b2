using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using Waypoint.TestKit.Envoy;
using Waypoint.TestKit.Http;
using Waypoint.Translator.Model;
using Waypoint.Translator.Tests.Acceptance;
using Waypoint.Xds;

namespace Waypoint.Benchmarks;

/// <summary>
/// Data-plane cost of AuthorizationPolicies on a real waypoint Envoy (the acceptance tests' harness: a client ztunnel
/// Envoy tunnels HBONE with a client SPIFFE identity to the waypoint Envoy, fed the translator's xDS), in one run and
/// one Envoy: four Services on the same backend, whose requests cross no authorization (no RBAC filter), the RBAC
/// filters with 0 policies on the request's route, 1 ALLOW policy, and 50 policies (25 DENY that do not match, 25
/// ALLOW of which only the last matches); and a second Service without authorization, whose ratio to the first is the
/// run's noise floor.
/// </summary>
/// <remarks>
/// Made to hold on a loaded 2-core machine: each sample is a fixed number of requests (not a fixed time), and the
/// waypoint Envoy's CPU over it is the sum of its threads' on-CPU nanoseconds (<c>/proc/&lt;pid&gt;/task/*/schedstat</c>;
/// <c>/proc/&lt;pid&gt;/stat</c> counts 10 ms ticks, too coarse for a sample). A round runs the four scenarios back to
/// back in a rotated order, so they share whatever else the machine does at the time; ratios are taken within each
/// round and the median and interquartile range over rounds are reported. The waypoint Envoy is pinned to the last
/// core and the load generator (this process) with the client Envoy to the first, so neither starves the other.
/// Usage: <c>dotnet bench/Waypoint.Benchmarks/bin/Release/net10.0/Waypoint.Benchmarks.dll authorization-dataplane [requests per sample] [concurrency] [rounds]</c>.
/// </remarks>
internal static class AuthorizationDataPlane
{
    private const string Client = "spiffe://cluster.local/ns/app/sa/client";

    private static readonly (string Name, string Service, string Vip)[] s_scenarios =
    [
        ("none (no authorization)", "s-none", "10.96.1.1"),
        ("0 policies on the path", "s-zero", "10.96.1.2"),
        ("1 policy", "s-one", "10.96.1.3"),
        ("50 policies", "s-fifty", "10.96.1.4"),

        // The same as the first: how far apart two identical scenarios come out is the run's noise floor.
        ("none again (noise floor)", "s-none-again", "10.96.1.5"),
    ];

    public static async Task<int> RunAsync(string[] args)
    {
        var requests = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 3000;
        var concurrency = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 4;
        var rounds = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 21;
        if (requests < concurrency || concurrency < 1 || rounds < 3)
        {
            Console.Error.WriteLine("authorization-dataplane [requests per sample >= concurrency] [concurrency >= 1] [rounds >= 3]");
            return 2;
        }

        await using var echo = await EchoBackend.StartAsync("echo");
        var targets = s_scenarios.Select(s => new HboneTarget($"{s.Vip}:80", Client)).ToArray();
        var (harness, translation) = await WaypointEnvoyHarness.StartAsync(Mesh(echo.EndPoint), XdsProtocol.StateOfTheWorld, targets);
        await using var _ = harness;
        if (translation.AuthorizationPolicies.Any(p => p.Ancestors.Any(a => a.Conditions.Any(c => c.Status != "True"))))
        {
            throw new InvalidOperationException("a benchmark policy was not accepted");
        }

        var envoyPid = DataPlaneLoad.FindEnvoyPid(harness.Waypoint.WorkDirectory);
        var clientEnvoyPid = DataPlaneLoad.FindEnvoyPid(harness.Client.WorkDirectory);
        var pinning = DataPlaneLoad.Pin([envoyPid], [clientEnvoyPid]);
        Console.WriteLine($"Envoy {EnvoyBinary.Locate()} (waypoint pid {envoyPid}, 1 worker); {Environment.ProcessorCount} cores, {pinning}; load average {File.ReadAllText("/proc/loadavg").Trim()}.");
        Console.WriteLine($"{concurrency} concurrent HTTP/1.1 clients, each on its own HBONE-tunnelled connection; {rounds} rounds, each running the {s_scenarios.Length} scenarios in rotated order, {requests} requests per scenario (+{requests / 4} warm-up).");
        var clients = targets.Select(t => Enumerable.Range(0, concurrency).Select(_ => harness.CreateHttpClient(t)).ToArray()).ToArray();
        var results = s_scenarios.Select(_ => new List<LoadRound>()).ToArray();
        for (var round = 0; round < rounds; round++)
        {
            for (var i = 0; i < s_scenarios.Length; i++)
            {
                var s = (i + round) % s_scenarios.Length;
                await DataPlaneLoad.RunCountAsync(clients[s], envoyPid, requests / 4);
                results[s].Add(await DataPlaneLoad.RunCountAsync(clients[s], envoyPid, requests));
            }
        }

        Console.WriteLine("| scenario | req/s | waypoint CPU µs/request | CPU × none (IQR) | CPU × 0 policies (IQR) | p50 ms | p50 × none (IQR) | p99 ms | errors |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (var i = 0; i < s_scenarios.Length; i++)
        {
            var r = results[i];
            var cpuNone = DataPlaneLoad.Spread(r.Select((x, k) => x.CpuPerRequestUs(0) / results[0][k].CpuPerRequestUs(0)));
            var cpuZero = DataPlaneLoad.Spread(r.Select((x, k) => x.CpuPerRequestUs(0) / results[1][k].CpuPerRequestUs(0)));
            var p50None = DataPlaneLoad.Spread(r.Select((x, k) => x.Percentile(0.50) / results[0][k].Percentile(0.50)));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {s_scenarios[i].Name} | {DataPlaneLoad.Spread(r.Select(x => x.Count / x.Elapsed.TotalSeconds)).Median:F0} | {DataPlaneLoad.Spread(r.Select(x => x.CpuPerRequestUs(0))).Median:F1} | {cpuNone} | {cpuZero} | {DataPlaneLoad.Spread(r.Select(x => x.Percentile(0.50))).Median:F3} | {p50None} | {DataPlaneLoad.Spread(r.Select(x => x.Percentile(0.99))).Median:F3} | {r.Sum(x => x.Errors)} |"));
        }

        foreach (var client in clients.SelectMany(c => c))
        {
            client.Dispose();
        }

        return 0;
    }

    private static ClusterSnapshot Mesh(IPEndPoint backend)
    {
        var yaml = new StringBuilder("""
            apiVersion: v1
            kind: Namespace
            metadata: {name: app, labels: {istio.io/use-waypoint: waypoint}}
            ---
            apiVersion: gateway.networking.k8s.io/v1
            kind: GatewayClass
            metadata: {name: kgateway-waypoint}
            spec: {controllerName: waypoint.dev/controller}
            ---
            apiVersion: gateway.networking.k8s.io/v1
            kind: Gateway
            metadata: {name: waypoint, namespace: app, generation: 1}
            spec:
              gatewayClassName: kgateway-waypoint
              listeners: [{name: mesh, port: 15008, protocol: HBONE}]
            ---

            """);
        foreach (var (_, service, vip) in s_scenarios)
        {
            yaml.Append(CultureInfo.InvariantCulture, $$$"""
                apiVersion: v1
                kind: Service
                metadata: {name: {{{service}}}, namespace: app}
                spec:
                  clusterIP: {{{vip}}}
                  ports: [{name: http, port: 80, targetPort: {{{backend.Port}}}}]
                ---
                apiVersion: discovery.k8s.io/v1
                kind: EndpointSlice
                metadata: {name: {{{service}}}-1, namespace: app, labels: {kubernetes.io/service-name: {{{service}}}}}
                addressType: IPv4
                ports: [{name: http, port: {{{backend.Port}}}}]
                endpoints: [{addresses: ["{{{backend.Address}}}"], conditions: {ready: true}}]
                ---

                """);
        }

        // s-zero: the RBAC filters are on its chain (a policy targets one of its HTTPRoutes), the requests' route has none.
        yaml.Append("""
            apiVersion: gateway.networking.k8s.io/v1
            kind: HTTPRoute
            metadata: {name: zero-admin, namespace: app, generation: 1, creationTimestamp: "2026-01-01T00:00:00Z"}
            spec:
              parentRefs: [{group: "", kind: Service, name: s-zero, port: 80}]
              rules: [{matches: [{path: {type: PathPrefix, value: /admin}}], backendRefs: [{name: s-zero, port: 80}]}]
            ---
            apiVersion: gateway.networking.k8s.io/v1
            kind: HTTPRoute
            metadata: {name: zero, namespace: app, generation: 1, creationTimestamp: "2026-01-01T00:00:01Z"}
            spec:
              parentRefs: [{group: "", kind: Service, name: s-zero, port: 80}]
              rules: [{backendRefs: [{name: s-zero, port: 80}]}]
            ---

            """);
        yaml.Append(Policy("zero-admin-only", "HTTPRoute", "zero-admin", "ALLOW", """[{from: [{source: {principals: ["cluster.local/ns/ops/sa/admin"]}}]}]"""));
        yaml.Append(Policy("one-allow-client", "Service", "s-one", "ALLOW", """[{from: [{source: {principals: ["cluster.local/ns/app/sa/client"]}}]}]"""));
        for (var i = 0; i < 25; i++)
        {
            yaml.Append(Policy($"fifty-deny-{i:D2}", "Service", "s-fifty", "DENY",
                $$$"""[{to: [{operation: {methods: ["POST", "DELETE"], paths: ["/deny-{{{i}}}/*"]}}], when: [{key: "request.headers[x-block-{{{i}}}]", values: ["yes"]}]}]"""));
        }

        for (var i = 0; i < 24; i++)
        {
            yaml.Append(Policy($"fifty-allow-{i:D2}", "Service", "s-fifty", "ALLOW",
                $$$"""[{from: [{source: {principals: ["cluster.local/ns/team-{{{i}}}/sa/*"]}}], to: [{operation: {paths: ["/api-{{{i}}}/*"]}}]}]"""));
        }

        yaml.Append(Policy("fifty-allow-zz-client", "Service", "s-fifty", "ALLOW", """[{from: [{source: {principals: ["cluster.local/ns/app/sa/client"]}}], to: [{operation: {methods: ["GET"]}}]}]"""));
        var load = KubernetesObjectLoader.Load(yaml.ToString(), "authorization-bench.yaml");
        if (load.Errors.Count > 0)
        {
            throw new InvalidOperationException(string.Join("; ", load.Errors));
        }

        return load.ToSnapshot();
    }

    private static string Policy(string name, string kind, string target, string action, string rules)
    {
        var group = kind == "HTTPRoute" ? "gateway.networking.k8s.io" : "";
        return $$$"""
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: {{{name}}}, namespace: app, generation: 1}
            spec:
              targetRefs: [{kind: {{{kind}}}, group: "{{{group}}}", name: {{{target}}}}]
              action: {{{action}}}
              rules: {{{rules}}}
            ---

            """;
    }
}
