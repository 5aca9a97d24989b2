using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Envoy.Service.Discovery.V3;
using Grpc.Net.Client;
using k8s;
using k8s.Models;
using EnvoyNode = Envoy.Config.Core.V3.Node;

namespace Waypoint.Benchmarks;

/// <summary>
/// <c>controller-sync-box [N ...]</c> (root; the host built in Release): for each N (default 1,000 and 3,000), a fresh
/// box (control plane and istiod, no node) is loaded through its API server with N Services (2 Pods each, Ready with pod
/// IPs, so kube-controller-manager writes an EndpointSlice per Service) and one HTTPRoute per 5 Services, spread over 10
/// namespaces bound to a waypoint Gateway of our class that istiod also sees as a waypoint (<c>istio.io/waypoint-for</c>,
/// <c>status.addresses</c>). Then, in the same run and on the same cluster:
/// <list type="bullet">
/// <item>istiod acting for an Istio waypoint of that Gateway: a <c>waypoint~</c> node on its plaintext ADS asks for CDS
/// and LDS; time to each answer, resource counts, istiod's RSS before and after;</item>
/// <item>our controller, started as <c>waypoint controller</c> is (admin kubeconfig, plaintext xDS): time from process
/// start to ready (informers synced, every waypoint's snapshot published), the waypoints it serves, its RSS.</item>
/// </list>
/// The measuring half runs inside the box's network namespace (<c>nsenter --net</c>), where the API server and istiod listen.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
internal static class ControllerSyncOnTheBox
{
    private const int Namespaces = 10;
    private const int Writers = 16;

    public static async Task<int> RunAsync(string[] args)
    {
        if (args is ["inner", var countText, var stateFile])
        {
            return await InnerAsync(int.Parse(countText, CultureInfo.InvariantCulture), stateFile);
        }

        var counts = args.Length > 0 ? args.Select(a => int.Parse(a, CultureInfo.InvariantCulture)).ToArray() : [1_000, 3_000];
        var root = BenchPaths.Root();
        var host = Path.Combine(root, "src", "Waypoint.Host", "bin", "Release", "net10.0", "waypoint.dll");
        var failures = 0;
        foreach (var count in counts)
        {
            var work = Directory.CreateTempSubdirectory("waypoint-bench-sync-").FullName;
            var state = Path.Combine(work, "state.json");
            using var box = BenchProcess.Start("dotnet", [host, "box", "--no-node", "--no-ztunnel", "--state-file", state], redirect: true);
            box.OutputDataReceived += (_, _) => { };
            box.ErrorDataReceived += (_, _) => { };
            box.BeginOutputReadLine();
            box.BeginErrorReadLine();
            try
            {
                var boxState = await WaitForBoxAsync(state, box, TimeSpan.FromMinutes(3));
                using var inner = BenchProcess.Start("nsenter",
                    [$"--net={boxState.NetworkNamespacePath}", "dotnet", typeof(ControllerSyncOnTheBox).Assembly.Location, "controller-sync-box", "inner", count.ToString(CultureInfo.InvariantCulture), state],
                    redirect: false);
                await inner.WaitForExitAsync();
                failures += inner.ExitCode == 0 ? 0 : 1;
            }
            finally
            {
                _ = BenchProcess.Signal(box.Id, 15);
                await box.WaitForExitAsync();
                Directory.Delete(work, recursive: true);
            }
        }

        return failures == 0 ? 0 : 1;
    }

    private static async Task<Waypoint.Box.BoxState> WaitForBoxAsync(string stateFile, Process box, TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < timeout)
        {
            if (box.HasExited)
            {
                throw new InvalidOperationException($"waypoint box exited with {box.ExitCode} before it was ready.");
            }

            if (File.Exists(stateFile))
            {
                try
                {
                    var state = await Waypoint.Box.BoxState.ReadAsync(stateFile, CancellationToken.None);
                    if (state.Ready)
                    {
                        return state;
                    }
                }
                catch (Exception ex) when (ex is IOException or JsonException)
                {
                    // Being written.
                }
            }

            await Task.Delay(200);
        }

        throw new TimeoutException("The box was not ready in time.");
    }

    private static async Task<int> InnerAsync(int services, string stateFile)
    {
        var state = await Waypoint.Box.BoxState.ReadAsync(stateFile, CancellationToken.None);
        using var client = new Kubernetes(KubernetesClientConfiguration.BuildConfigFromConfigFile(state.AdminKubeconfigPath));
        var istiod = state.Components.Single(c => c.Name == "istiod").ProcessId;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"== {services:N0} Services, {2 * services:N0} Pods, {services / 5:N0} HTTPRoutes, {Namespaces} namespaces/waypoints"));
        var istiodIdle = BenchProcess.RssMegabytes(istiod);

        var load = Stopwatch.StartNew();
        var loader = new BoxClusterLoader(client, services, Namespaces, Writers);
        using var stopHeartbeat = new CancellationTokenSource();
        var heartbeat = await loader.StartNodeAsync(stopHeartbeat.Token);
        await loader.LoadAsync();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"load through the API server ({Writers} writers, EndpointSlices by kube-controller-manager): {load.Elapsed.TotalSeconds:0.0} s"));

        var (cds, lds, clusters, listeners) = await IstiodWaypointAsync(services);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"istiod as the waypoint's control plane: CDS {cds.TotalSeconds:0.00} s ({clusters} clusters), LDS {lds.TotalSeconds:0.00} s ({listeners} listeners); RSS {istiodIdle:0} MB idle → {BenchProcess.RssMegabytes(istiod):0} MB"));

        // WAYPOINT_BENCH_CONTROLLER_GC=server,workstation starts the controller once per GC mode on the same cluster
        // (the host's runtimeconfig, which the image runs, says workstation); WAYPOINT_BENCH_CONTROLLER_HOSTS=before=DIR,after= once per host
        // build (DIR holds waypoint.dll; empty: this tree's), so a change is measured against its baseline on one load.
        // The first run is compared with istiod below.
        var modes = (Environment.GetEnvironmentVariable("WAYPOINT_BENCH_CONTROLLER_GC") is { Length: > 0 } list ? list : "server")
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var hosts = ControllerHosts();
        (TimeSpan Ready, int Waypoints, double RssMegabytes)? first = null;
        foreach (var (label, hostPath, environment) in hosts)
        {
            foreach (var mode in modes)
            {
                var serverGc = mode switch
                {
                    "server" => true,
                    "workstation" => false,
                    _ => throw new ArgumentException($"WAYPOINT_BENCH_CONTROLLER_GC: '{mode}' is neither 'server' nor 'workstation'."),
                };
                var measured = await OurControllerAsync(state.AdminKubeconfigPath, hostPath, environment, serverGc);
                first ??= (measured.Ready, measured.Waypoints, measured.RssMegabytes);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"waypoint controller [{label}] ({mode} GC): start → ready (synced, first push) {measured.Ready.TotalSeconds:0.00} s, {measured.Waypoints} waypoints served; RSS at ready {measured.RssMegabytes:0} MB, peak {measured.PeakMegabytes:0} MB, settled ({SettleTime().TotalSeconds:0} s later) {measured.SettledMegabytes:0} MB; load average {File.ReadAllText("/proc/loadavg").Trim()}"));
            }
        }

        var (ready, _, rss) = first!.Value;

        // Like for like: our controller was measured from its process start, so istiod is too (the box starts it again
        // when it exits).
        var (freshStart, freshRss) = await FreshIstiodAsync(istiod, services);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"fresh istiod: process start → the waypoint's LDS answered {freshStart.TotalSeconds:0.00} s; RSS {freshRss:0} MB; controller/istiod {ready.TotalSeconds / freshStart.TotalSeconds:0.00}× time, {rss / freshRss:0.00}× RSS"));
        await stopHeartbeat.CancelAsync();
        await heartbeat;
        return 0;
    }

    /// <summary>How long the ready controller idles before its settled RSS is read (<c>WAYPOINT_BENCH_SETTLE_SECONDS</c>, default 60).</summary>
    private static TimeSpan SettleTime() =>
        TimeSpan.FromSeconds(Environment.GetEnvironmentVariable("WAYPOINT_BENCH_SETTLE_SECONDS") is { Length: > 0 } text ? double.Parse(text, CultureInfo.InvariantCulture) : 60);

    /// <summary>
    /// The controller builds to measure: <c>WAYPOINT_BENCH_CONTROLLER_HOSTS=label=DIR[|VAR=VALUE...],...</c> (DIR empty:
    /// this tree's; each VAR=VALUE is set in that run's environment, e.g. a runtime knob that has no runtimeconfig name).
    /// </summary>
    private static List<(string Label, string Host, IReadOnlyList<(string Name, string Value)> Environment)> ControllerHosts()
    {
        var own = Path.Combine(BenchPaths.Root(), "src", "Waypoint.Host", "bin", "Release", "net10.0", "waypoint.dll");
        if (Environment.GetEnvironmentVariable("WAYPOINT_BENCH_CONTROLLER_HOSTS") is not { Length: > 0 } list)
        {
            return [("this tree", own, [])];
        }

        var hosts = new List<(string, string, IReadOnlyList<(string, string)>)>();
        foreach (var entry in list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var parts = entry.Split('|');
            var (label, directory) = parts[0].Split('=', 2) is [var l, var d] ? (l, d) : (parts[0], "");
            var environment = parts.Skip(1).Select(p => p.Split('=', 2) is [var name, var value] ? (name, value) : throw new ArgumentException($"WAYPOINT_BENCH_CONTROLLER_HOSTS: '{p}' is not VAR=VALUE.")).ToList();
            hosts.Add((label, directory.Length > 0 ? Path.Combine(directory, "waypoint.dll") : own, environment));
        }

        return hosts;
    }

    /// <summary>Kills istiod, finds the process the box starts instead, and times its start to the waypoint's LDS answer.</summary>
    private static async Task<(TimeSpan StartToLds, double RssMegabytes)> FreshIstiodAsync(int istiod, int services)
    {
        _ = BenchProcess.Signal(istiod, 9);
        var limit = Stopwatch.StartNew();
        int? fresh = null;
        while (fresh is null && limit.Elapsed < TimeSpan.FromMinutes(2))
        {
            fresh = Directory.EnumerateDirectories("/proc")
                .Select(d => int.TryParse(Path.GetFileName(d), out var pid) ? pid : (int?)null)
                .FirstOrDefault(pid => pid is { } p && p != istiod && ReadCommandLine(p).Contains("pilot-discovery", StringComparison.Ordinal) && InThisNetworkNamespace(p));
            await Task.Delay(20);
        }

        if (fresh is not { } pid)
        {
            throw new TimeoutException("the box did not start istiod again within 2 minutes");
        }

        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromMinutes(30))
        {
            try
            {
                _ = await IstiodWaypointAsync(services);
                return (clock.Elapsed, BenchProcess.RssMegabytes(pid));
            }
            catch (Exception ex) when (ex is Grpc.Core.RpcException or HttpRequestException or IOException)
            {
                // Not listening yet, or listening before its TLS/HTTP/2 server is (a reset handshake).
                await Task.Delay(50);
            }
        }

        throw new TimeoutException("the fresh istiod never answered the waypoint's LDS");
    }

    /// <summary>Whether the process shares this one's network namespace (this half runs in the box's; other boxes may run beside it).</summary>
    private static bool InThisNetworkNamespace(int pid)
    {
        try
        {
            return new FileInfo($"/proc/{pid}/ns/net").LinkTarget is { } target && target == new FileInfo("/proc/self/ns/net").LinkTarget;
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static string ReadCommandLine(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline");
        }
        catch (IOException)
        {
            return "";
        }
    }

    /// <summary>A fresh Istio waypoint of bench-0/waypoint asking istiod for CDS and LDS over plaintext SotW ADS.</summary>
    private static async Task<(TimeSpan Cds, TimeSpan Lds, int Clusters, int Listeners)> IstiodWaypointAsync(int services)
    {
        using var channel = GrpcChannel.ForAddress("http://127.0.0.1:15010");
        var ads = new AggregatedDiscoveryService.AggregatedDiscoveryServiceClient(channel);
        var metadata = new Google.Protobuf.WellKnownTypes.Struct();
        metadata.Fields["NAMESPACE"] = Google.Protobuf.WellKnownTypes.Value.ForString("bench-0");
        metadata.Fields["CLUSTER_ID"] = Google.Protobuf.WellKnownTypes.Value.ForString("Kubernetes");
        metadata.Fields["ISTIO_VERSION"] = Google.Protobuf.WellKnownTypes.Value.ForString("1.31.0");
        metadata.Fields["SERVICE_ACCOUNT"] = Google.Protobuf.WellKnownTypes.Value.ForString("waypoint");
        var labels = new Google.Protobuf.WellKnownTypes.Struct();
        labels.Fields["gateway.networking.k8s.io/gateway-name"] = Google.Protobuf.WellKnownTypes.Value.ForString("waypoint");
        metadata.Fields["LABELS"] = Google.Protobuf.WellKnownTypes.Value.ForStruct(labels);
        var node = new EnvoyNode { Id = $"waypoint~{BoxClusterLoader.WaypointAddress(0)}~waypoint-bench.bench-0~bench-0.svc.cluster.local", Cluster = "waypoint.bench-0", Metadata = metadata };

        using var call = ads.StreamAggregatedResources(deadline: DateTime.UtcNow.AddMinutes(30));
        var clock = Stopwatch.StartNew();
        const string ClusterType = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
        const string ListenerType = "type.googleapis.com/envoy.config.listener.v3.Listener";
        await call.RequestStream.WriteAsync(new DiscoveryRequest { Node = node, TypeUrl = ClusterType });
        await call.RequestStream.WriteAsync(new DiscoveryRequest { Node = node, TypeUrl = ListenerType });
        TimeSpan? cds = null, lds = null;
        int clusters = 0, listeners = 0;
        while ((cds is null || lds is null) && await call.ResponseStream.MoveNext(CancellationToken.None))
        {
            var response = call.ResponseStream.Current;
            if (response.TypeUrl == ClusterType && cds is null)
            {
                cds = clock.Elapsed;
                clusters = response.Resources.Count;
            }
            else if (response.TypeUrl == ListenerType && lds is null)
            {
                lds = clock.Elapsed;
                listeners = response.Resources.Count;
            }

            // ACK, as Envoy does, so istiod is not left waiting.
            await call.RequestStream.WriteAsync(new DiscoveryRequest { Node = node, TypeUrl = response.TypeUrl, VersionInfo = response.VersionInfo, ResponseNonce = response.Nonce });
        }

        if (clusters < services / Namespaces)
        {
            Console.WriteLine($"  note: istiod sent {clusters} clusters for a waypoint bound to {services / Namespaces} Services: check it treats the Gateway as this node's waypoint.");
        }

        await call.RequestStream.CompleteAsync();
        return (cds ?? TimeSpan.Zero, lds ?? TimeSpan.Zero, clusters, listeners);
    }

    /// <summary>
    /// With <c>WAYPOINT_BENCH_GCDUMP=DIR</c>, a <c>dotnet-gcdump</c> of the ready controller into DIR (what holds its heap;
    /// read with <c>dotnet-gcdump report</c>). The tool must be on PATH (<c>dotnet tool install -g dotnet-gcdump</c>).
    /// </summary>
    private static async Task DumpHeapAsync(int pid)
    {
        if (Environment.GetEnvironmentVariable("WAYPOINT_BENCH_GCDUMP") is not { Length: > 0 } directory)
        {
            return;
        }

        Directory.CreateDirectory(directory);
        PrintRssSplit(pid, "settled");
        var output = Path.Combine(directory, string.Create(CultureInfo.InvariantCulture, $"controller-{pid}.gcdump"));
        var dump = new ProcessStartInfo("dotnet-gcdump") { UseShellExecute = false };
        foreach (var argument in new[] { "collect", "-p", pid.ToString(CultureInfo.InvariantCulture), "-o", output })
        {
            dump.ArgumentList.Add(argument);
        }

        using var process = Process.Start(dump)!;
        await process.WaitForExitAsync();
        Console.WriteLine($"controller heap dump: {output} (exit {process.ExitCode})");
        var report = new ProcessStartInfo("dotnet-gcdump") { UseShellExecute = false, RedirectStandardOutput = true };
        foreach (var argument in new[] { "report", output })
        {
            report.ArgumentList.Add(argument);
        }

        using var reporter = Process.Start(report)!;
        var text = await reporter.StandardOutput.ReadToEndAsync();
        await reporter.WaitForExitAsync();
        await File.WriteAllTextAsync(output + ".txt", text);
        Console.WriteLine($"controller heap: {string.Join("; ", text.Split('\n').Where(l => l.Contains("GC Heap", StringComparison.Ordinal)).Select(l => l.Trim()))} (report: {output}.txt)");
    }

    /// <summary>The controller's RSS split from <c>/proc/PID/status</c> (anon, file, shmem), with <c>WAYPOINT_BENCH_GCDUMP</c>.</summary>
    private static void PrintRssSplit(int pid, string when)
    {
        if (Environment.GetEnvironmentVariable("WAYPOINT_BENCH_GCDUMP") is not { Length: > 0 })
        {
            return;
        }

        var memory = File.ReadLines($"/proc/{pid}/status").Where(l => l.StartsWith("Rss", StringComparison.Ordinal) || l.StartsWith("VmRSS", StringComparison.Ordinal));
        Console.WriteLine($"controller memory ({when}): {string.Join("; ", memory.Select(l => string.Join(' ', l.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries))))}");
    }

    /// <summary><c>waypoint controller --xds-insecure</c> as a process: start → /healthz/ready, then /debug/xds's waypoints and the RSS.</summary>
    private static async Task<(TimeSpan Ready, int Waypoints, double RssMegabytes, double PeakMegabytes, double SettledMegabytes)> OurControllerAsync(string kubeconfig, string host, IReadOnlyList<(string Name, string Value)> environment, bool serverGc)
    {
        var start = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { host, "controller", "--xds-insecure", "--xds-address", "127.0.0.1:25010", "--health-address", "127.0.0.1:25021", "--metrics-address", "127.0.0.1:25014" })
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["KUBECONFIG"] = kubeconfig;
        start.Environment["POD_NAMESPACE"] = "waypoint-system";
        start.Environment["Logging__LogLevel__Default"] = "Warning";
        start.Environment["DOTNET_gcServer"] = serverGc ? "1" : "0";
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        var clock = Stopwatch.StartNew();
        using var controller = Process.Start(start)!;
        var output = new Queue<string>();
        void Keep(string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (output)
            {
                output.Enqueue(line);
                if (output.Count > 40)
                {
                    output.Dequeue();
                }
            }
        }

        controller.OutputDataReceived += (_, e) => Keep(e.Data);
        controller.ErrorDataReceived += (_, e) => Keep(e.Data);
        controller.BeginOutputReadLine();
        controller.BeginErrorReadLine();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        try
        {
            TimeSpan? ready = null;
            while (ready is null && clock.Elapsed < TimeSpan.FromMinutes(20) && !controller.HasExited)
            {
                try
                {
                    using var response = await http.GetAsync(new Uri("http://127.0.0.1:25021/healthz/ready"));
                    if (response.IsSuccessStatusCode)
                    {
                        ready = clock.Elapsed;
                        break;
                    }
                }
                catch (HttpRequestException)
                {
                    // Not listening yet.
                }

                await Task.Delay(50);
            }

            if (ready is null)
            {
                lock (output)
                {
                    throw new InvalidOperationException($"The controller was not ready (exited: {controller.HasExited}); its last output:\n{string.Join('\n', output)}");
                }
            }

            // RSS first: the debug document below (every resource of every waypoint) is a large allocation of its own.
            // Then the RSS once the controller has idled (what it holds in steady state), and the peak (VmHWM).
            var rss = BenchProcess.RssMegabytes(controller.Id);
            PrintRssSplit(controller.Id, "ready");
            await Task.Delay(SettleTime());
            var settled = BenchProcess.RssMegabytes(controller.Id);
            var peak = BenchProcess.StatusMegabytes(controller.Id, "VmHWM:");
            await DumpHeapAsync(controller.Id);
            using var debugClient = new HttpClient { Timeout = TimeSpan.FromMinutes(2) };
            using var debug = JsonDocument.Parse(await debugClient.GetStringAsync(new Uri("http://127.0.0.1:25021/debug/xds")));
            var waypoints = CountNodeGroups(debug.RootElement);
            return (ready.Value, waypoints, rss, peak, settled);
        }
        finally
        {
            _ = BenchProcess.Signal(controller.Id, 15);
            await controller.WaitForExitAsync();
        }
    }

    private static int CountNodeGroups(JsonElement debug) => debug.ValueKind switch
    {
        JsonValueKind.Array => debug.GetArrayLength(),
        JsonValueKind.Object when debug.TryGetProperty("snapshots", out var snapshots) && snapshots.ValueKind == JsonValueKind.Array => snapshots.GetArrayLength(),
        _ => -1,
    };
}

/// <summary>Writes the synthetic cluster through a real API server, as a user's tooling would, with parallel writers.</summary>
internal sealed class BoxClusterLoader(Kubernetes client, int services, int namespaces, int writers)
{
    private const string GatewayGroup = "gateway.networking.k8s.io";
    private const string NodeName = "bench-node";

    /// <summary>The pod IP of the proxy istiod takes for waypoint <paramref name="n"/> (beyond the app pods' addresses).</summary>
    public static string WaypointAddress(int n) => $"10.244.250.{n + 1}";

    public async Task LoadAsync()
    {
        await client.CustomObjects.CreateClusterCustomObjectAsync(Json("""{"apiVersion":"gateway.networking.k8s.io/v1","kind":"GatewayClass","metadata":{"name":"kgateway-waypoint"},"spec":{"controllerName":"waypoint.dev/controller"}}"""), GatewayGroup, "v1", "gatewayclasses");
        await client.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = "waypoint-system" } });
        for (var n = 0; n < namespaces; n++)
        {
            var ns = Ns(n);
            await client.CoreV1.CreateNamespaceAsync(new V1Namespace
            {
                Metadata = new V1ObjectMeta { Name = ns, Labels = new Dictionary<string, string> { ["istio.io/dataplane-mode"] = "ambient", ["istio.io/use-waypoint"] = "waypoint" } },
            });
            await RetriedAsync(() => client.CustomObjects.CreateNamespacedCustomObjectAsync(Json($$$"""
                {"apiVersion":"gateway.networking.k8s.io/v1","kind":"Gateway","metadata":{"name":"waypoint","labels":{"istio.io/waypoint-for":"service"}},
                 "spec":{"gatewayClassName":"kgateway-waypoint","listeners":[{"name":"mesh","port":15008,"protocol":"HBONE"}]}}
                """), GatewayGroup, "v1", ns, "gateways"));
            await WaitForDefaultServiceAccountAsync(ns);
            var vip = await CreateIstioWaypointAsync(n);
            await client.CustomObjects.PatchNamespacedCustomObjectStatusAsync(new V1Patch($$$"""{"status":{"addresses":[{"type":"IPAddress","value":"{{{vip}}}"}]}}""", V1Patch.PatchType.MergePatch), GatewayGroup, "v1", ns, "gateways", "waypoint");
        }

        await ParallelAsync(services, CreateServiceAsync);
        await ParallelAsync(services * 2, CreatePodAsync);
        await ParallelAsync(services / 5, CreateRouteAsync);
        await WaitForEndpointSlicesAsync();
    }

    /// <summary>
    /// What istiod needs to know a proxy as this Gateway's waypoint: it keys a waypoint by the Services selecting the
    /// proxy's pod (found by the node's IP), matched against the Gateway's addresses. A pod at
    /// <see cref="WaypointAddress"/> with the Gateway's label, and a Service <c>waypoint-istio</c> selecting it (our
    /// controller owns the name <c>waypoint</c>); returns the Service's ClusterIP.
    /// </summary>
    private async Task<string> CreateIstioWaypointAsync(int n)
    {
        var ns = Ns(n);
        var labels = new Dictionary<string, string> { ["gateway.networking.k8s.io/gateway-name"] = "waypoint", ["bench.waypoint.dev/istio-waypoint"] = "true" };
        var service = await client.CoreV1.CreateNamespacedServiceAsync(new V1Service
        {
            Metadata = new V1ObjectMeta { Name = "waypoint-istio" },
            Spec = new V1ServiceSpec { Selector = labels, Ports = [new V1ServicePort { Name = "mesh", Port = 15008, TargetPort = 15008, Protocol = "TCP" }] },
        }, ns);
        await CreateReadyPodAsync(ns, "waypoint-bench", labels, WaypointAddress(n), 15008);
        return service.Spec.ClusterIP;
    }

    /// <summary>
    /// kube-controller-manager's EndpointSlice controller leaves out a pod whose node it does not know, and its node
    /// lifecycle controller marks every pod of a node without heartbeats not Ready. So the pods are bound to a Node
    /// object whose heartbeats (Ready condition and node Lease, as a kubelet renews them) the bench sends until
    /// <paramref name="stop"/>; the returned task ends then.
    /// </summary>
    public async Task<Task> StartNodeAsync(CancellationToken stop)
    {
        await client.CoreV1.CreateNodeAsync(new V1Node { Metadata = new V1ObjectMeta { Name = NodeName } }, cancellationToken: CancellationToken.None);
        await client.CoordinationV1.CreateNamespacedLeaseAsync(new V1Lease
        {
            Metadata = new V1ObjectMeta { Name = NodeName },
            Spec = new V1LeaseSpec { HolderIdentity = NodeName, LeaseDurationSeconds = 40, RenewTime = DateTime.UtcNow },
        }, "kube-node-lease", cancellationToken: CancellationToken.None);
        await HeartbeatAsync();
        return Task.Run(async () =>
        {
            using var timer = new PeriodicTimer(TimeSpan.FromSeconds(5));
            try
            {
                while (await timer.WaitForNextTickAsync(stop))
                {
                    try
                    {
                        await HeartbeatAsync();
                    }
                    catch (Exception ex) when (ex is k8s.Autorest.HttpOperationException or HttpRequestException or TaskCanceledException)
                    {
                        // A slow API server under the load: the next beat, 5 s on, is well within the 40 s grace.
                    }
                }
            }
            catch (OperationCanceledException)
            {
            }
        }, CancellationToken.None);
    }

    private async Task HeartbeatAsync()
    {
        var now = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
        await client.CoreV1.PatchNodeStatusAsync(new V1Patch($$$"""
            {"status":{"conditions":[{"type":"Ready","status":"True","reason":"KubeletReady","message":"bench heartbeat","lastHeartbeatTime":"{{{now}}}","lastTransitionTime":"{{{now}}}"}]}}
            """, V1Patch.PatchType.StrategicMergePatch), NodeName);
        await client.CoordinationV1.PatchNamespacedLeaseAsync(new V1Patch($$$"""{"spec":{"renewTime":"{{{DateTime.UtcNow:yyyy-MM-ddTHH:mm:ss.ffffffZ}}}"}}""", V1Patch.PatchType.MergePatch), NodeName, "kube-node-lease");
    }

    private async Task CreateServiceAsync(int i) =>
        await RetriedAsync(() => client.CoreV1.CreateNamespacedServiceAsync(new V1Service
        {
            Metadata = new V1ObjectMeta { Name = $"svc-{i}" },
            Spec = new V1ServiceSpec
            {
                Selector = new Dictionary<string, string> { ["app"] = $"svc-{i}" },
                Ports = [new V1ServicePort { Name = "http", Port = 8080, TargetPort = 8080, Protocol = "TCP" }],
            },
        }, Ns(i % namespaces)));

    private async Task CreatePodAsync(int p)
    {
        var service = p / 2;
        await CreateReadyPodAsync(Ns(service % namespaces), $"svc-{service}-{p % 2}", new Dictionary<string, string> { ["app"] = $"svc-{service}" }, $"10.244.{1 + (p >> 8)}.{p & 255}", 8080);
    }

    private async Task CreateReadyPodAsync(string ns, string name, Dictionary<string, string> labels, string ip, int port)
    {
        await RetriedAsync(() => client.CoreV1.CreateNamespacedPodAsync(new V1Pod
        {
            Metadata = new V1ObjectMeta { Name = name, Labels = labels },
            Spec = new V1PodSpec
            {
                NodeName = NodeName,
                Tolerations = [new V1Toleration { OperatorProperty = "Exists", Effect = "NoExecute" }, new V1Toleration { OperatorProperty = "Exists", Effect = "NoSchedule" }],
                Containers = [new V1Container { Name = "app", Image = "waypoint/echo", Ports = [new V1ContainerPort { ContainerPort = port }] }],
            },
        }, ns));

        // No node runs these pods: report them Running and Ready with an IP, as a kubelet would.
        var now = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
        var status = $$$"""
            {"status":{"phase":"Running","podIP":"{{{ip}}}","podIPs":[{"ip":"{{{ip}}}"}],"hostIP":"10.244.0.2","hostIPs":[{"ip":"10.244.0.2"}],
             "conditions":[{"type":"PodScheduled","status":"True","lastTransitionTime":"{{{now}}}"},{"type":"Initialized","status":"True","lastTransitionTime":"{{{now}}}"},
                           {"type":"ContainersReady","status":"True","lastTransitionTime":"{{{now}}}"},{"type":"Ready","status":"True","lastTransitionTime":"{{{now}}}"}]}}
            """;
        await RetriedAsync(() => client.CoreV1.PatchNamespacedPodStatusAsync(new V1Patch(status, V1Patch.PatchType.MergePatch), name, ns));
    }

    private async Task CreateRouteAsync(int r)
    {
        var backend = r + namespaces < services ? r + namespaces : r;
        await RetriedAsync(() => client.CustomObjects.CreateNamespacedCustomObjectAsync(Json($$$"""
            {"apiVersion":"gateway.networking.k8s.io/v1","kind":"HTTPRoute","metadata":{"name":"route-{{{r}}}"},
             "spec":{"parentRefs":[{"group":"","kind":"Service","name":"svc-{{{r}}}","port":8080}],
              "rules":[{"matches":[{"headers":[{"name":"x-canary","value":"true"}]}],"backendRefs":[{"name":"svc-{{{backend}}}","port":8080}],"timeouts":{"request":"5s"}},
                       {"backendRefs":[{"name":"svc-{{{r}}}","port":8080}]}]}}
            """), GatewayGroup, "v1", Ns(r % namespaces), "httproutes"));
    }

    /// <summary>
    /// Retries a write the API server could not finish in time (429, 500, 503, 504: a loaded machine); a create that
    /// timed out may have landed, so a 409 on a retry counts as done.
    /// </summary>
    private static async Task RetriedAsync(Func<Task> write)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await write();
                return;
            }
            catch (k8s.Autorest.HttpOperationException e) when (attempt > 1 && e.Response.StatusCode == System.Net.HttpStatusCode.Conflict)
            {
                return;
            }
            catch (k8s.Autorest.HttpOperationException e) when (attempt < 6 && (int)e.Response.StatusCode is 429 or 500 or 503 or 504)
            {
                await Task.Delay(TimeSpan.FromSeconds(2 * attempt));
            }
        }
    }

    private async Task WaitForDefaultServiceAccountAsync(string ns)
    {
        for (var attempt = 0; attempt < 300; attempt++)
        {
            var accounts = await client.CoreV1.ListNamespacedServiceAccountAsync(ns);
            if (accounts.Items.Any(a => a.Metadata.Name == "default"))
            {
                return;
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"No default ServiceAccount in {ns}.");
    }

    private async Task WaitForEndpointSlicesAsync()
    {
        for (var attempt = 0; attempt < 3000; attempt++)
        {
            var ready = 0;
            string? next = null;
            do
            {
                var page = await client.DiscoveryV1.ListEndpointSliceForAllNamespacesAsync(labelSelector: "endpointslice.kubernetes.io/managed-by=endpointslice-controller.k8s.io", limit: 5000, continueParameter: next);
                ready += page.Items.Count(s => s.Metadata.NamespaceProperty.StartsWith("bench-", StringComparison.Ordinal) && s.Endpoints?.Count(e => e.Conditions?.Ready == true) == 2);
                next = page.Metadata.ContinueProperty;
            }
            while (!string.IsNullOrEmpty(next));

            if (ready >= services)
            {
                return;
            }

            await Task.Delay(500);
        }

        throw new TimeoutException("kube-controller-manager did not write every EndpointSlice.");
    }

    private async Task ParallelAsync(int count, Func<int, Task> create)
    {
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, writers).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < count)
            {
                await create(i);
            }
        }));
    }

    private static string Ns(int n) => $"bench-{n}";

    private static JsonElement Json(string text) => JsonDocument.Parse(text).RootElement.Clone();
}

/// <summary>Process helpers the box benches share: start, signal, RSS.</summary>
internal static class BenchProcess
{
    public static Process Start(string file, IEnumerable<string> arguments, bool redirect)
    {
        var startInfo = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardOutput = redirect, RedirectStandardError = redirect };
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        return Process.Start(startInfo)!;
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill")]
    public static extern int Signal(int pid, int signal);

    public static double RssMegabytes(int pid) => StatusMegabytes(pid, "VmRSS:");

    /// <summary>A kB figure of <c>/proc/PID/status</c> (VmRSS:, VmHWM:) in MiB; 0 when the process is gone.</summary>
    public static double StatusMegabytes(int pid, string field)
    {
        try
        {
            var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith(field, StringComparison.Ordinal));
            return line is null ? 0 : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0;
        }
        catch (IOException)
        {
            return 0;
        }
    }
}

internal static class BenchPaths
{
    /// <summary>The repository root (the folder holding Waypoint.sln), found from the bench's own folder.</summary>
    public static string Root()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Waypoint.sln")))
            {
                return dir.FullName;
            }
        }

        return Directory.GetCurrentDirectory();
    }
}
