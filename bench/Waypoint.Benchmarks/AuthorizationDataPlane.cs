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
/// ALLOW of which only the last matches). Figures: waypoint Envoy CPU per request (utime+stime from /proc over the
/// round / requests) and client-side p50, medians over interleaved rounds; ratios to "none" (and to "0 policies", the
/// filters without policies) are taken within each round, then their median.
/// Usage: <c>dotnet bench/Waypoint.Benchmarks/bin/Release/net10.0/Waypoint.Benchmarks.dll authorization-dataplane [seconds] [concurrency] [rounds]</c>.
/// </summary>
internal static class AuthorizationDataPlane
{
    private const string Client = "spiffe://cluster.local/ns/app/sa/client";

    private static readonly (string Name, string Service, string Vip)[] s_scenarios =
    [
        ("none (no authorization)", "s-none", "10.96.1.1"),
        ("0 policies on the path", "s-zero", "10.96.1.2"),
        ("1 policy", "s-one", "10.96.1.3"),
        ("50 policies", "s-fifty", "10.96.1.4"),
    ];

    public static async Task<int> RunAsync(string[] args)
    {
        var seconds = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 10;
        var concurrency = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 8;
        var rounds = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 3;

        await using var echo = await EchoBackend.StartAsync("echo");
        var targets = s_scenarios.Select(s => new HboneTarget($"{s.Vip}:80", Client)).ToArray();
        var (harness, translation) = await WaypointEnvoyHarness.StartAsync(Mesh(echo.EndPoint), XdsProtocol.StateOfTheWorld, targets);
        await using var _ = harness;
        if (translation.AuthorizationPolicies.Any(p => p.Ancestors.Any(a => a.Conditions.Any(c => c.Status != "True"))))
        {
            throw new InvalidOperationException("a benchmark policy was not accepted");
        }

        var envoyPid = DataPlaneLoad.FindEnvoyPid(harness.Waypoint.WorkDirectory);
        Console.WriteLine($"Envoy {EnvoyBinary.Locate()} (waypoint pid {envoyPid}, 1 worker); {Environment.ProcessorCount} cores; {concurrency} concurrent HTTP/1.1 clients, each on its own HBONE-tunnelled connection; {rounds} interleaved rounds of {seconds}s per scenario (+1s warm-up each); medians over rounds.");
        var clients = targets.Select(t => Enumerable.Range(0, concurrency).Select(_ => harness.CreateHttpClient(t)).ToArray()).ToArray();
        var results = s_scenarios.Select(_ => new List<LoadRound>()).ToArray();
        for (var round = 0; round < rounds; round++)
        {
            for (var i = 0; i < s_scenarios.Length; i++)
            {
                var s = (i + round) % s_scenarios.Length;
                await DataPlaneLoad.RunAsync(clients[s], [envoyPid], TimeSpan.FromSeconds(1));
                results[s].Add(await DataPlaneLoad.RunAsync(clients[s], [envoyPid], TimeSpan.FromSeconds(seconds)));
            }
        }

        // Ratios are taken within each round (its four scenarios ran back to back, so they share the machine's load at the
        // time), then the median over rounds: other work on a shared machine shifts whole rounds, not one scenario.
        static double MedianOf(IEnumerable<double> values) => DataPlaneLoad.Median(values);

        Console.WriteLine("| scenario | req/s | waypoint CPU µs/request | CPU × none | CPU × 0 policies | p50 ms | p50 × none | p99 ms | errors |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (var i = 0; i < s_scenarios.Length; i++)
        {
            var r = results[i];
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {s_scenarios[i].Name} | {MedianOf(r.Select(x => x.Count / x.Elapsed.TotalSeconds)):F0} | {MedianOf(r.Select(x => x.CpuPerRequestUs(0))):F1} | {MedianOf(r.Select((x, k) => x.CpuPerRequestUs(0) / results[0][k].CpuPerRequestUs(0))):F3} | {MedianOf(r.Select((x, k) => x.CpuPerRequestUs(0) / results[1][k].CpuPerRequestUs(0))):F3} | {MedianOf(r.Select(x => x.Percentile(0.50))):F3} | {MedianOf(r.Select((x, k) => x.Percentile(0.50) / results[0][k].Percentile(0.50))):F3} | {MedianOf(r.Select(x => x.Percentile(0.99))):F3} | {r.Sum(x => x.Errors)} |"));
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
