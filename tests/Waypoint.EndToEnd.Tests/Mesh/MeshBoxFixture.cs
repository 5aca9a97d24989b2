using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Waypoint.Box;
using Waypoint.Box.Network;
using Waypoint.Local.Box;
using Waypoint.Ztunnel.Config;
using Waypoint.Ztunnel.Hosting;

namespace Waypoint.EndToEnd.Tests.Mesh;

/// <summary>
/// Every test class on the shared mesh box: one box at a time (a box holds about 2 GB and both cores while it boots),
/// so this collection runs alone, as do the other box collections of this assembly.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MeshBoxGroup : ICollectionFixture<MeshBoxFixture>
{
    public const string Name = "Mesh box";
}

/// <summary>
/// One <c>waypoint local &lt;dir&gt;</c>, run as a user runs it (the built host, a real cluster in a box, the product
/// installed from manifests/install with the controller as a pod, the node's ztunnel, the directory server-side
/// applied and followed), with the YAML of every test class in it: each class has a namespace of its own
/// (<see cref="MeshFiles"/>). Requests leave from the ambient client pod's network namespace (ztunnel captures the
/// Service VIP there, HBONE to the waypoint pod, HBONE to the echo pod's ztunnel inbound), as
/// <c>waypoint local curl</c>'s do. What the backends saw is read from their pod logs through the API server; status
/// is read from the objects the controller pod wrote. No sleeps as assertions: observable state is polled under
/// generous safety limits.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "Disposed in DisposeAsync: xunit's IAsyncLifetime owns the fixture's lifetime.")]
public sealed class MeshBoxFixture : IAsyncLifetime
{
    /// <summary>A safety net for a hung start (box, product install, pods, first translation), not a timed assertion.</summary>
    private static readonly TimeSpan s_startLimit = TimeSpan.FromMinutes(6);
    private static readonly TimeSpan s_limit = TimeSpan.FromMinutes(2);
    private readonly string _root = System.IO.Directory.CreateTempSubdirectory("waypoint-e2e-mesh-").FullName;
    private readonly StringBuilder _output = new();
    private readonly List<string> _lines = [];
    private Process? _process;
    private BoxNetworkNamespace? _clientNetwork;

    /// <summary>The directory <c>waypoint local</c> applies and watches.</summary>
    public string Directory => Path.Combine(_root, "config");

    public string StateFile => Path.Combine(_root, "state.json");

    public LocalBoxState State { get; private set; } = null!;

    public BoxConnection Connection { get; private set; } = null!;

    /// <summary>HTTP from the ambient client pod (ServiceAccount waypoint-local-client/client); Service names resolve to their VIPs.</summary>
    public HttpClient Client { get; private set; } = null!;

    /// <summary>The API server as the box's admin.</summary>
    public HttpClient Admin { get; private set; } = null!;

    /// <summary>The node's ztunnel files (its access log names the HBONE peer of every inbound tunnel).</summary>
    public ZtunnelPaths Ztunnel => new(BoxZtunnel.RootOf(State.WorkDirectory));

    /// <summary>The client pod's SPIFFE identity.</summary>
    public static string ClientIdentity => $"spiffe://cluster.local/ns/{LocalClientPod.Namespace}/sa/client";

    public async Task InitializeAsync()
    {
        System.IO.Directory.CreateDirectory(Directory);
        foreach (var (name, content) in MeshFiles.All)
        {
            await File.WriteAllTextAsync(Path.Combine(Directory, name), content);
        }

        var started = Stopwatch.StartNew();
        _process = Process.Start(Host(["local", Directory, "--state-file", StateFile]))!;
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();

        await WaitForLineAsync(0, l => l.StartsWith("The local mesh is up (", StringComparison.Ordinal), "the mesh to come up", s_startLimit);
        Assert.DoesNotContain(Lines(), l => l.StartsWith("rejected", StringComparison.Ordinal));
        State = LocalBoxState.TryRead(StateFile) ?? throw new InvalidOperationException($"{StateFile} is not readable:\n{Output}");
        Connection = await KubernetesBox.AttachAsync(State.BoxStateFile, CancellationToken.None);
        Admin = Connection.CreateAdminHttpClient();

        await EventuallyAsync(async () => await NotReadyPodsAsync() is { Count: 0 }, async () => $"pods not Ready: {string.Join(", ", await NotReadyPodsAsync())}", s_startLimit);
        await EventuallyAsync(() => Task.FromResult(ReadState().Pods.Count >= MeshFiles.PodCount + 1), () => Task.FromResult("the state file never listed every pod"), s_limit);
        var client = ReadState().FindPod(LocalClientPod.Key)!;
        _clientNetwork = new BoxNetworkNamespace(Connection.State.OutsidePath(client.NetworkNamespacePath));

        // Each namespace's waypoint serves its routes and policies (the last file's effect is visible) before any test
        // runs. Every probe on a new connection: ztunnel picks the path (waypoint or not) when a connection opens, so a
        // connection opened before the Service's waypoint was known would go around it for as long as it lives.
        foreach (var (url, header, value) in MeshFiles.Canaries)
        {
            await EventuallyAsync(async () =>
            {
                using var probe = CreateClientPodHttpClient(TimeSpan.FromSeconds(20));
                try
                {
                    using var response = await probe.GetAsync(new Uri(url));
                    return response.StatusCode == HttpStatusCode.OK && (header is null || (response.Headers.TryGetValues(header, out var values) && values.Contains(value)));
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
                {
                    return false;
                }
            }, () => Task.FromResult($"{url} never answered 200{(header is null ? "" : $" with {header}: {value}")}"), s_startLimit);
        }

        Client = CreateClientPodHttpClient(TimeSpan.FromSeconds(20));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"mesh box: start → every namespace served through its waypoint in {started.Elapsed.TotalSeconds:0.0} s"));
    }

    public async Task DisposeAsync()
    {
        Client?.Dispose();
        Admin?.Dispose();
        _clientNetwork?.Dispose();
        Connection?.Dispose();
        if (_process is { HasExited: false })
        {
            _ = Kill(_process.Id, 15);
            using var limit = new CancellationTokenSource(s_limit);
            try
            {
                await _process.WaitForExitAsync(limit.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }
        }

        _process?.Dispose();
        try
        {
            System.IO.Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>The state file as <c>waypoint local</c> last wrote it (refreshed every second from the cluster).</summary>
    public LocalBoxState ReadState() => LocalBoxState.TryRead(StateFile) ?? State;

    /// <summary>An HTTP client whose every connection is opened in the client pod's network namespace.</summary>
    public HttpClient CreateClientPodHttpClient(TimeSpan timeout) => new(ConnectingHandler(_clientNetwork!)) { Timeout = timeout };

    /// <summary>
    /// An HTTP client whose every connection is opened in the network namespace of the pod <paramref name="ns"/>/<paramref name="pod"/>:
    /// the node's ztunnel captures it as that pod's outbound, so the HBONE tunnel carries that pod's own identity.
    /// </summary>
    public HttpClient CreatePodHttpClient(string ns, string pod, TimeSpan timeout)
    {
        var source = ReadState().FindPod($"{ns}/{pod}") ?? throw new InvalidOperationException($"no pod {ns}/{pod} in {StateFile}");
        var network = new BoxNetworkNamespace(Connection.State.OutsidePath(source.NetworkNamespacePath));
        return new PodHttpClient(ConnectingHandler(network), network) { Timeout = timeout };
    }

    /// <summary>A handler that opens each connection in <paramref name="network"/>, Service names resolved as <c>waypoint local curl</c> does.</summary>
    private SocketsHttpHandler ConnectingHandler(BoxNetworkNamespace network) => new()
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        ConnectCallback = async (context, cancellationToken) =>
            new NetworkStream(await network.ConnectAsync(new IPEndPoint(Resolve(context.DnsEndPoint.Host), context.DnsEndPoint.Port), cancellationToken), ownsSocket: true),
    };

    /// <summary>A TCP connection from the client pod to a Service (by name, as <c>waypoint local curl</c> resolves it) or an IP.</summary>
    public async Task<Socket> ConnectFromClientAsync(string host, int port, CancellationToken cancellationToken)
    {
        return await _clientNetwork!.ConnectAsync(new IPEndPoint(Resolve(host), port), cancellationToken);
    }

    /// <summary>
    /// A TCP connection from the pod <paramref name="ns"/>/<paramref name="pod"/>'s network namespace to a Service (by
    /// name) or an IP: the node's ztunnel captures it as that pod's outbound, with that pod's own identity.
    /// </summary>
    public async Task<Socket> ConnectFromPodAsync(string ns, string pod, string host, int port, CancellationToken cancellationToken)
    {
        var source = ReadState().FindPod($"{ns}/{pod}") ?? throw new InvalidOperationException($"no pod {ns}/{pod} in {StateFile}");
        using var network = new BoxNetworkNamespace(Connection.State.OutsidePath(source.NetworkNamespacePath));
        return await network.ConnectAsync(new IPEndPoint(Resolve(host), port), cancellationToken);
    }

    private IPAddress Resolve(string host) => IPAddress.TryParse(host, out var ip) ? ip : ResolveService(host);

    public LocalBoxService Service(string ns, string name) =>
        ReadState().Services.FirstOrDefault(s => s.Namespace == ns && s.Name == name) ?? throw new InvalidOperationException($"no Service {ns}/{name} in {StateFile}");

    /// <summary>The pods of a namespace as the state file lists them (name → address).</summary>
    public IReadOnlyList<LocalBoxPod> Pods(string ns) => [.. ReadState().Pods.Where(p => p.Namespace == ns)];

    /// <summary>A namespaced object as the API server has it (e.g. <c>gateway.networking.k8s.io/v1</c>, <c>httproutes</c>).</summary>
    public async Task<JsonNode> GetAsync(string groupVersion, string ns, string plural, string name)
    {
        var prefix = groupVersion == "v1" ? "/api/v1" : $"/apis/{groupVersion}";
        return (await Admin.GetFromJsonAsync<JsonNode>(new Uri($"{prefix}/namespaces/{ns}/{plural}/{name}", UriKind.Relative)))!;
    }

    /// <summary>The pod's log (its container's stdout) through the API server and the kubelet.</summary>
    public Task<string> PodLogAsync(string ns, string pod) =>
        Admin.GetStringAsync(new Uri($"/api/v1/namespaces/{ns}/pods/{pod}/log", UriKind.Relative));

    /// <summary>
    /// How many requests for <paramref name="path"/> the pod's echo logged (it logs <c>METHOD PATH from HOST -&gt; STATUS</c>).
    /// First a barrier request through <paramref name="service"/> (whose only pod is <paramref name="pod"/>) must show up:
    /// the log is in order, so every request answered before it is counted.
    /// </summary>
    public async Task<int> CountLoggedAsync(string ns, string pod, string service, string path)
    {
        var barrier = $"/barrier/{Guid.NewGuid():N}";
        using (var response = await Client.GetAsync(new Uri($"http://{service}.{ns}.svc.cluster.local{barrier}")))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        var log = "";
        await EventuallyAsync(async () => (log = await PodLogAsync(ns, pod)).Contains($" {barrier} ", StringComparison.Ordinal),
            () => Task.FromResult($"the barrier {barrier} never reached {ns}/{pod}'s log:\n{log}"), s_limit);
        return log.Split('\n').Count(l => l.Contains($" {path} from ", StringComparison.Ordinal));
    }

    /// <summary>Lines of the ztunnel access log: one per inbound HBONE tunnel (pod, authority, the peer's SPIFFE id).</summary>
    public string[] ZtunnelAccessLog() => File.Exists(Ztunnel.AccessLog) ? File.ReadAllLines(Ztunnel.AccessLog) : [];

    /// <summary>Everything <c>waypoint local</c> printed so far.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public int LineCount
    {
        get
        {
            lock (_output)
            {
                return _lines.Count;
            }
        }
    }

    /// <summary>Waits until a line printed after the first <paramref name="after"/> lines matches; returns it.</summary>
    public async Task<string> WaitForLineAsync(int after, Func<string, bool> match, string what, TimeSpan? limit = null)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var found = Lines().Skip(after).FirstOrDefault(match);
            if (found is not null)
            {
                return found;
            }

            Assert.False(_process!.HasExited, $"waypoint local exited before {what}:\n{Output}");
            Assert.True(deadline.Elapsed < (limit ?? s_limit), $"waypoint local did not print {what}:\n{Output}");
            await Task.Delay(100);
        }
    }

    public string[] Lines()
    {
        lock (_output)
        {
            return [.. _lines];
        }
    }

    /// <summary>Repeats an observation until it holds; the limit is a safety net, not a timed assertion.</summary>
    public static async Task EventuallyAsync(Func<Task<bool>> condition, Func<Task<string>> describe, TimeSpan? limit = null)
    {
        var deadline = Stopwatch.StartNew();
        while (!await condition())
        {
            if (deadline.Elapsed > (limit ?? s_limit))
            {
                Assert.Fail(await describe());
            }

            await Task.Delay(200);
        }
    }

    private IPAddress ResolveService(string host)
    {
        var service = ReadState().ResolveService(host) ?? throw new HttpRequestException($"'{host}' is no Service in {StateFile}.");
        return IPAddress.Parse(service.ClusterIp ?? throw new HttpRequestException($"Service {service.Namespace}/{service.Name} has no ClusterIP."));
    }

    private async Task<IReadOnlyList<string>> NotReadyPodsAsync()
    {
        var notReady = new List<string>();
        var seen = 0;
        foreach (var ns in MeshFiles.Namespaces.Concat(MeshFiles.ClientNamespaces))
        {
            var list = await Admin.GetFromJsonAsync<JsonNode>(new Uri($"/api/v1/namespaces/{ns}/pods", UriKind.Relative));
            foreach (var pod in list?["items"]?.AsArray() ?? [])
            {
                seen++;
                var ready = (pod?["status"]?["conditions"]?.AsArray() ?? []).Any(c => c?["type"]?.GetValue<string>() == "Ready" && c["status"]?.GetValue<string>() == "True");
                if (!ready)
                {
                    notReady.Add($"{ns}/{pod?["metadata"]?["name"]}");
                }
            }
        }

        // The waypoints' pods count too: one per namespace.
        if (seen < MeshFiles.PodCount + MeshFiles.Namespaces.Count)
        {
            notReady.Add($"only {seen} of {MeshFiles.PodCount + MeshFiles.Namespaces.Count} pods exist");
        }

        return notReady;
    }

    private static ProcessStartInfo Host(IEnumerable<string> arguments)
    {
        var startInfo = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        startInfo.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "waypoint.dll"));
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        startInfo.Environment.Remove(BoxLauncher.InsideVariable);
        return startInfo;
    }

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_output)
            {
                _output.AppendLine(line);
                _lines.Add(line.Trim());
            }
        }
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill")]
#pragma warning disable SYSLIB1054 // a test helper; one call
    private static extern int Kill(int pid, int signal);
#pragma warning restore SYSLIB1054
}

/// <summary>An HTTP client that owns the network namespace handle its connections are opened in.</summary>
internal sealed class PodHttpClient(HttpMessageHandler handler, BoxNetworkNamespace network) : HttpClient(handler)
{
    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing)
        {
            network.Dispose();
        }
    }
}
