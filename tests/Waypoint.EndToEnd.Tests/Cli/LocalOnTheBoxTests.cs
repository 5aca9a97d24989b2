using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Waypoint.EndToEnd.Tests.Cli;

/// <summary>
/// `waypoint local &lt;dir&gt;` as a user runs it (the built host): a real cluster in a box with the product installed
/// from manifests/install and the node's ztunnel. `waypoint local curl` from the ambient client pod is answered by the
/// echo pod through the waypoint (a response header only the HTTPRoute adds); an HTTPRoute edit is followed; a
/// document the API server refuses is printed with its file and the server's message while the rest applies; removing
/// a file prunes its objects; the controller pod's Gateway/HTTPRoute status is visible through the kubeconfig; SIGTERM
/// stops everything and removes the state file. No sleeps: observable state is polled under generous safety limits.
/// </summary>
[Collection(LocalOnTheBoxGroup.Name)]
public sealed class LocalOnTheBoxTests : IAsyncLifetime
{
    private static readonly TimeSpan s_startLimit = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan s_limit = TimeSpan.FromMinutes(2);
    private readonly string _directory = Directory.CreateTempSubdirectory("waypoint-local-box-").FullName;
    private readonly StringBuilder _output = new();
    private Process? _process;

    private string Config => Path.Combine(_directory, "config");

    private string StateFile => Path.Combine(_directory, "state.json");

    public Task InitializeAsync() => Task.CompletedTask;

    [Fact]
    public async Task Serves_Through_The_Waypoint_Follows_Edits_Reports_Rejections_And_Prunes()
    {
        Directory.CreateDirectory(Config);
        await File.WriteAllTextAsync(Path.Combine(Config, "mesh.yaml"), Mesh);
        await File.WriteAllTextAsync(Path.Combine(Config, "route.yaml"), Route("a"));
        await File.WriteAllTextAsync(Path.Combine(Config, "bad.yaml"), Refused);
        await File.WriteAllTextAsync(Path.Combine(Config, "extra.yaml"), Extra);
        var started = Stopwatch.StartNew();
        Start();

        await WaitForLineAsync(l => l.StartsWith("The local mesh is up (", StringComparison.Ordinal), "the mesh to come up", s_startLimit);
        // The refused document names its file, its object and the API server's own words; the others applied.
        Assert.Contains(Lines(), l => l.Contains("rejected", StringComparison.Ordinal) && l.Contains("bad.yaml#0", StringComparison.Ordinal)
            && l.Contains("Service clitest/bad", StringComparison.Ordinal) && l.Contains("99999", StringComparison.Ordinal)
            && l.Contains("must be between 1 and 65535", StringComparison.Ordinal));
        Assert.Contains(Lines(), l => l.StartsWith("Apply 1:", StringComparison.Ordinal) && l.Contains("1 rejected", StringComparison.Ordinal));
        Assert.Contains(Lines(), l => l.Contains("service  echo.clitest.svc.cluster.local", StringComparison.Ordinal) && l.Contains("via waypoint clitest/waypoint", StringComparison.Ordinal));
        AssertStartTimeline();

        // ztunnel capture in the client pod → waypoint pod (adds the route's header) → ztunnel inbound → echo pod.
        var first = await PollAsync(() => WaypointAsync("curl", "http://echo.clitest.svc.cluster.local/hello"),
            r => r.ExitCode == 0 && r.Output.StartsWith("HTTP/1.1 200", StringComparison.Ordinal) && r.Output.Contains("x-route-version: a", StringComparison.Ordinal), "a 200 through the waypoint");
        Assert.Contains("x-echo-pod: echo-", first.Output, StringComparison.Ordinal);
        Assert.Contains("\"path\": \"/hello\"", first.Output, StringComparison.Ordinal);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"waypoint local: start → first 200 through the waypoint in {started.Elapsed.TotalSeconds:0.0} s"));

        // The controller pod wrote the status; kubectl through the printed kubeconfig, from inside the box, shows it.
        var kubectl = await ReadStateAsync();
        await PollAsync(() => WaypointAsync("exec", "--", kubectl.Kubectl, "--kubeconfig", kubectl.Kubeconfig, "get", "gateway", "waypoint", "-n", "clitest", "-o", "jsonpath={.status.conditions[?(@.type==\"Programmed\")].status}"),
            r => r.ExitCode == 0 && r.Output.Trim() == "True", "the Gateway Programmed=True");
        await PollAsync(() => WaypointAsync("exec", "--", kubectl.Kubectl, "--kubeconfig", kubectl.Kubeconfig, "get", "httproute", "echo", "-n", "clitest", "-o", "jsonpath={.status.parents[0].conditions[?(@.type==\"Accepted\")].status}"),
            r => r.ExitCode == 0 && r.Output.Trim() == "True", "the HTTPRoute Accepted=True");

        // An edit of the route is applied and served.
        await File.WriteAllTextAsync(Path.Combine(Config, "route.yaml"), Route("b"));
        await PollAsync(() => WaypointAsync("curl", "http://echo.clitest.svc.cluster.local/hello"),
            r => r.ExitCode == 0 && r.Output.StartsWith("HTTP/1.1 200", StringComparison.Ordinal) && r.Output.Contains("x-route-version: b", StringComparison.Ordinal), "the edited route's header");

        // Removing a file prunes its objects (the ConfigMap existed until then).
        string[] configMap = ["exec", "--", kubectl.Kubectl, "--kubeconfig", kubectl.Kubeconfig, "get", "configmap", "extra", "-n", "clitest", "-o", "name"];
        Assert.Equal(0, (await WaypointAsync(configMap)).ExitCode);
        File.Delete(Path.Combine(Config, "extra.yaml"));
        var gone = await PollAsync(() => WaypointAsync(configMap), r => r.ExitCode != 0, "the ConfigMap of the removed file to be pruned");
        Assert.Contains("NotFound", gone.Output, StringComparison.Ordinal);
        Assert.Contains(Lines(), l => l.Contains("pruned", StringComparison.Ordinal) && l.Contains("ConfigMap clitest/extra", StringComparison.Ordinal));

        // SIGTERM: everything stops and the state file goes.
        Assert.Equal(0, Kill(_process!.Id, 15));
        using var stopLimit = new CancellationTokenSource(s_limit);
        await _process.WaitForExitAsync(stopLimit.Token);
        Assert.Equal(0, _process.ExitCode);
        Assert.False(File.Exists(StateFile), "the state file outlived the mesh");
    }

    public async Task DisposeAsync()
    {
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
        Directory.Delete(_directory, recursive: true);
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill")]
    private static extern int Kill(int pid, int signal);

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

        return startInfo;
    }

    private void Start()
    {
        _process = Process.Start(Host(["local", Config, "--state-file", StateFile]))!;
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    /// <summary>Runs <c>waypoint local curl|exec ...</c> against this test's mesh; its exit code and all it printed.</summary>
    private async Task<(int ExitCode, string Output)> WaypointAsync(params string[] arguments)
    {
        using var process = Process.Start(Host(["local", arguments[0], "--state-file", StateFile, .. arguments.Skip(1)]))!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var limit = new CancellationTokenSource(s_limit);
        await process.WaitForExitAsync(limit.Token);
        return (process.ExitCode, (await stdout).ReplaceLineEndings("\n") + await stderr);
    }

    /// <summary>Repeats an observation until it holds; the limit is a safety net, not a timed assertion.</summary>
    private async Task<(int ExitCode, string Output)> PollAsync(Func<Task<(int ExitCode, string Output)>> observe, Func<(int ExitCode, string Output), bool> holds, string what)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var result = await observe();
            if (holds(result))
            {
                return result;
            }

            Assert.False(_process!.HasExited, $"waypoint local exited before {what}:\n{string.Join('\n', Lines())}");
            Assert.True(deadline.Elapsed < s_limit, $"no {what}; last ({result.ExitCode}):\n{result.Output}\nwaypoint local printed:\n{string.Join('\n', Lines())}");
            await Task.Delay(250);
        }
    }

    private async Task<(string Kubectl, string Kubeconfig)> ReadStateAsync()
    {
        using var json = System.Text.Json.JsonDocument.Parse(await File.ReadAllTextAsync(StateFile));
        return (json.RootElement.GetProperty("kubectl").GetString()!, json.RootElement.GetProperty("kubeconfig").GetString()!);
    }

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_output)
            {
                _output.AppendLine(line);
            }
        }
    }

    /// <summary>
    /// The start timeline printed once the mesh is up: every step is there, in an order that can only come from what
    /// really waits for what (kube-scheduler does not wait for the CRDs; istiod does; the waypoint pod follows the leader).
    /// </summary>
    private void AssertStartTimeline()
    {
        var lines = Lines();
        var start = Array.FindIndex(lines, l => l.StartsWith("Start timeline", StringComparison.Ordinal));
        Assert.True(start >= 0, "no start timeline was printed:\n" + string.Join('\n', lines));
        var at = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var line in lines.Skip(start + 1).TakeWhile(l => l.Length > 0))
        {
            var match = System.Text.RegularExpressions.Regex.Match(line, @"^(\d+\.\d{3}) s  \(\+\d+\.\d{3}\)  (.+?)(  .*)?$");
            if (match.Success)
            {
                at[match.Groups[2].Value] = double.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        double When(string milestone) => at.TryGetValue(milestone, out var seconds) ? seconds : throw new Xunit.Sdk.XunitException($"the timeline has no '{milestone}': {string.Join(", ", at.Keys)}");
        var waypointPodCreated = at.Where(m => m.Key.StartsWith("waypoint pod clitest/", StringComparison.Ordinal) && m.Key.EndsWith(" created", StringComparison.Ordinal)).Select(m => m.Value).ToList();
        Assert.NotEmpty(waypointPodCreated);
        Assert.Contains(at.Keys, k => k.StartsWith("controller pod waypoint-system/", StringComparison.Ordinal) && k.EndsWith(" Ready", StringComparison.Ordinal));
        Assert.True(When("etcd ready") <= When("kube-apiserver started"));
        Assert.True(When("kube-apiserver ready") <= When("kube-scheduler started"));
        Assert.True(When("kube-scheduler started") < When("CRDs established"), "kube-scheduler waited for the CRDs");
        Assert.True(When("CRDs established") <= When("istiod started"));
        Assert.True(When("node Ready") <= When("box ready") && When("istiod ready") <= When("ztunnel ready"));
        // Pod times are the API server's whole seconds: allow one second of truncation.
        Assert.True(When("controller leader elected") <= waypointPodCreated.Min() + 1);
        Assert.True(When("Gateway clitest/waypoint Programmed") <= When("mesh up"));
        Assert.Contains(lines, l => l.Contains("Waypoint.Box.StartTimeline", StringComparison.Ordinal) && l.Contains("start +", StringComparison.Ordinal) && l.Contains("ms: kube-apiserver ready", StringComparison.Ordinal));
    }

    private string[] Lines()
    {
        lock (_output)
        {
            return _output.ToString().Split('\n', StringSplitOptions.TrimEntries);
        }
    }

    private async Task WaitForLineAsync(Func<string, bool> match, string what, TimeSpan limit)
    {
        var deadline = Stopwatch.StartNew();
        while (!Lines().Any(match))
        {
            Assert.False(_process!.HasExited, $"waypoint local exited before {what}:\n{string.Join('\n', Lines())}");
            Assert.True(deadline.Elapsed < limit, $"waypoint local did not print {what}:\n{string.Join('\n', Lines())}");
            await Task.Delay(100);
        }
    }

    private static string Route(string version) => $$"""
        apiVersion: gateway.networking.k8s.io/v1
        kind: HTTPRoute
        metadata: {name: echo, namespace: clitest}
        spec:
          parentRefs:
          - {group: "", kind: Service, name: echo, port: 80}
          rules:
          - filters:
            - type: ResponseHeaderModifier
              responseHeaderModifier:
                set: [{name: x-route-version, value: {{version}} }]
            backendRefs:
            - {name: echo, port: 80}
        """;

    private const string Mesh = """
        apiVersion: v1
        kind: Namespace
        metadata:
          name: clitest
          labels: {istio.io/dataplane-mode: ambient, istio.io/use-waypoint: waypoint}
        ---
        apiVersion: gateway.networking.k8s.io/v1
        kind: Gateway
        metadata: {name: waypoint, namespace: clitest}
        spec:
          gatewayClassName: kgateway-waypoint
          listeners:
          - {name: mesh, port: 15008, protocol: HBONE}
        ---
        apiVersion: v1
        kind: ServiceAccount
        metadata: {name: echo, namespace: clitest}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: echo, namespace: clitest}
        spec:
          selector: {app: echo}
          ports:
          - {name: http, port: 80, targetPort: 8080}
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: echo, namespace: clitest}
        spec:
          selector:
            matchLabels: {app: echo}
          template:
            metadata:
              labels: {app: echo}
            spec:
              serviceAccountName: echo
              containers:
              - name: echo
                image: waypoint/echo
                ports: [{containerPort: 8080}]
                env:
                - name: POD_NAME
                  valueFrom: {fieldRef: {fieldPath: metadata.name}}
        """;

    private const string Refused = """
        apiVersion: v1
        kind: Service
        metadata: {name: bad, namespace: clitest}
        spec:
          ports:
          - {port: 99999}
        """;

    private const string Extra = """
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: extra, namespace: clitest}
        data: {greeting: hello}
        """;
}

/// <summary>Runs alone (a box of its own), not beside the mesh box's collection.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class LocalOnTheBoxGroup
{
    public const string Name = "waypoint local on the box";
}
