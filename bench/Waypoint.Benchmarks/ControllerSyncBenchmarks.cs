using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Waypoint.Controller;
using Waypoint.Controller.Client;
using Waypoint.TestKit.Kubernetes;

namespace Waypoint.Benchmarks;

/// <summary>
/// Initial sync and first full push (snapshot + translation) of the controller against the fake API server holding a
/// large cluster. <see cref="ControllerSyncMeasurement.RunAsync"/> is the one-shot figure (time, allocations, memory)
/// quoted in docs/controller.md; this class is the BenchmarkDotNet form.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 1, iterationCount: 3)]
public class ControllerSyncBenchmarks
{
    private FakeKubernetesApiServer _server = null!;

    [Params(1_000, 10_000)]
    public int Services { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _server = FakeKubernetesApiServer.StartNewAsync().GetAwaiter().GetResult();
        ControllerSyncMeasurement.Seed(_server.Store, Services, Services, Services / 5, namespaces: 10);
    }

    [GlobalCleanup]
    public void Cleanup() => _server.DisposeAsync().AsTask().GetAwaiter().GetResult();

    [Benchmark]
    public async Task InitialSyncAndFirstPush() => await ControllerSyncMeasurement.SyncOnceAsync(_server);
}

public sealed record ControllerSyncResult(TimeSpan SyncAndFirstPush, long AllocatedBytes, long RetainedBytes, long PeakWorkingSetBytes, int Services, int EndpointSlices, int Routes);

public static class ControllerSyncMeasurement
{
    /// <summary>Seeds the cluster, then measures one controller start: informers synced, snapshot translated and published.</summary>
    public static async Task<ControllerSyncResult> RunAsync(int services = 10_000, int endpointSlices = 10_000, int routes = 2_000, int namespaces = 10)
    {
        await using var server = await FakeKubernetesApiServer.StartNewAsync();
        Seed(server.Store, services, endpointSlices, routes, namespaces);
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        var baseline = GC.GetTotalMemory(forceFullCollection: true);
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        var started = Stopwatch.GetTimestamp();
        var controller = await StartAsync(server);
        var elapsed = Stopwatch.GetElapsedTime(started);
        var allocatedDuring = GC.GetTotalAllocatedBytes(precise: true) - allocated;
        var retained = GC.GetTotalMemory(forceFullCollection: true) - baseline;
        var snapshot = controller.Latest!.Snapshot;
        await controller.StopAsync(CancellationToken.None);
        controller.Dispose();
        using var process = Process.GetCurrentProcess();
        return new ControllerSyncResult(elapsed, allocatedDuring, retained, process.PeakWorkingSet64, snapshot.Services.Count, snapshot.EndpointSlices.Count, snapshot.HttpRoutes.Count);
    }

    public static async Task SyncOnceAsync(FakeKubernetesApiServer server)
    {
        var controller = await StartAsync(server);
        await controller.StopAsync(CancellationToken.None);
        controller.Dispose();
    }

    /// <summary>
    /// <paramref name="namespaces"/> namespaces bound to a waypoint each (istio.io/use-waypoint), services spread evenly,
    /// one EndpointSlice with 3 endpoints per service, routes on the first services with a header match and two backends.
    /// </summary>
    public static void Seed(FakeResourceStore store, int services, int endpointSlices, int routes, int namespaces)
    {
        Create(store, FakeResourceType.GatewayClasses, "", """{"metadata":{"name":"kgateway-waypoint"},"spec":{"controllerName":"waypoint.dev/controller"}}""");
        for (var n = 0; n < namespaces; n++)
        {
            var ns = Ns(n);
            Create(store, FakeResourceType.Namespaces, "", J("""{"metadata":{"name":"@NS","labels":{"istio.io/use-waypoint":"waypoint"}}}""", ("@NS", ns)));
            Create(store, FakeResourceType.Gateways, ns, """{"metadata":{"name":"waypoint"},"spec":{"gatewayClassName":"kgateway-waypoint","listeners":[{"name":"mesh","port":15008,"protocol":"HBONE"}]}}""");
        }

        for (var i = 0; i < services; i++)
        {
            Create(store, FakeResourceType.Services, Ns(i % namespaces), J(
                """{"metadata":{"name":"svc-@I"},"spec":{"selector":{"app":"svc-@I"},"ports":[{"name":"http","port":8080,"targetPort":8080,"protocol":"TCP"}]}}""",
                ("@I", Num(i))));
        }

        for (var i = 0; i < endpointSlices; i++)
        {
            var ip = i * 3;
            Create(store, FakeResourceType.EndpointSlices, Ns(i % namespaces), J(
                """
                {"metadata":{"name":"svc-@I-x","labels":{"kubernetes.io/service-name":"svc-@I"}},"addressType":"IPv4",
                 "endpoints":[{"addresses":["@IP0"],"conditions":{"ready":true}},{"addresses":["@IP1"],"conditions":{"ready":true}},{"addresses":["@IP2"],"conditions":{"ready":true}}],
                 "ports":[{"name":"http","port":8080,"protocol":"TCP"}]}
                """,
                ("@IP0", Ip(ip)), ("@IP1", Ip(ip + 1)), ("@IP2", Ip(ip + 2)), ("@I", Num(i))));
        }

        for (var i = 0; i < routes; i++)
        {
            // The canary backend lives in the route's namespace (services are spread round-robin over namespaces).
            var backend = i + namespaces < services ? i + namespaces : i;
            Create(store, FakeResourceType.HttpRoutes, Ns(i % namespaces), J(
                """
                {"metadata":{"name":"route-@I"},"spec":{"parentRefs":[{"group":"","kind":"Service","name":"svc-@I","port":8080}],
                 "rules":[{"matches":[{"headers":[{"name":"x-canary","value":"true"}]}],"backendRefs":[{"name":"svc-@B","port":8080}],"timeouts":{"request":"5s"}},
                          {"backendRefs":[{"name":"svc-@I","port":8080}]}]}}
                """,
                ("@B", Num(backend)), ("@I", Num(i))));
        }
    }

    private static string Num(int n) => n.ToString(CultureInfo.InvariantCulture);

    /// <summary>Fills @placeholders in the order given (longer keys first).</summary>
    private static string J(string template, params (string Key, string Value)[] values)
    {
        foreach (var (key, value) in values)
        {
            template = template.Replace(key, value, StringComparison.Ordinal);
        }

        return template;
    }

    private static async Task<WaypointController> StartAsync(FakeKubernetesApiServer server)
    {
        var options = new WaypointControllerOptions
        {
            Namespace = "waypoint-system",
            ControllerName = "waypoint.dev/controller",
            LeaderElection = new LeaderElectionOptions { Enabled = false },
        };
        var controller = new WaypointController(new KubernetesApiClient(server.CreateClientConfiguration()), Options.Create(options),
            new InMemoryWaypointConfigPublisher(), TimeProvider.System, NullLoggerFactory.Instance);
        await controller.StartAsync(CancellationToken.None);
        await controller.Started.WaitAsync(TimeSpan.FromMinutes(5));
        return controller;
    }

    private static string Ns(int n) => $"bench-{n}";

    private static string Ip(int n) => $"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}";

    private static void Create(FakeResourceStore store, FakeResourceType type, string ns, string json)
    {
        var result = store.Create(type, ns, JsonNode.Parse(json)!.AsObject());
        if (!result.IsSuccess)
        {
            throw new InvalidOperationException(result.Body.ToJsonString());
        }
    }
}
