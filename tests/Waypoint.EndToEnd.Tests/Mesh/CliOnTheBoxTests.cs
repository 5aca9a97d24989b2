using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;

namespace Waypoint.EndToEnd.Tests.Mesh;

/// <summary>
/// <c>waypoint status</c>, <c>config</c> and <c>describe</c> run as a user runs them (<c>--local</c>) against the
/// shared mesh box: the real controller pods (reached inside their network namespaces on 127.0.0.1:15021), the
/// waypoint Envoy connected to one of them, istiod's <c>istio.io/WaypointBound</c> on the Services. Output is
/// compared with golden text after volatile fields (addresses, times, versions, pod hashes) are normalised.
/// Regenerate with <c>WAYPOINT_UPDATE_GOLDEN=1</c> after a deliberate change and review the diff.
/// </summary>
[Collection(MeshBoxGroup.Name)]
public sealed partial class CliOnTheBoxTests(MeshBoxFixture mesh)
{
    [Fact]
    public async Task Status_Shows_The_Demo_Waypoint_Its_Bound_Service_With_Istiods_Condition_And_Its_Envoy()
    {
        var (code, stdout, stderr) = await RunAsync("status", "-n", BasicsMesh.Ns);
        Assert.True(code == 0, stderr);
        Assert.Contains("istio.io/WaypointBound".ToUpperInvariant(), stdout, StringComparison.Ordinal);
        Match("status-demo.txt", stdout);
    }

    /// <summary>
    /// Cluster mode, as against any cluster: the box's admin kubeconfig, the controller pods found through the API
    /// server and reached through its <c>pods/portforward</c> WebSocket (KubernetesClient, <c>v4.channel.k8s.io</c>),
    /// which the API server and the kubelet pass to the node runtime's streaming server, which connects to
    /// 127.0.0.1:15021 inside the controller pod. The kubeconfig's server is the box's loopback, reachable only inside
    /// the box's network namespace: the CLI runs there (<c>nsenter --net</c>, as <c>waypoint local exec</c> runs
    /// kubectl). The same output as <c>--local</c>.
    /// </summary>
    [Fact]
    public async Task Status_In_Cluster_Mode_Through_The_Api_Servers_Port_Forward_Matches_The_Local_Golden()
    {
        var (code, stdout, stderr) = await RunAsync(["status", "-n", BasicsMesh.Ns, "--kubeconfig", mesh.State.Kubeconfig], addLocal: false, inBox: true);
        Assert.True(code == 0, stderr);
        Assert.Equal(File.ReadAllText(GoldenPath("status-demo.txt")), Normalize(stdout));
    }

    [Fact]
    public async Task Describe_Names_The_Waypoint_Of_A_Bound_Service_And_None_For_An_Unbound_One()
    {
        var bound = await RunAsync("describe", "service", $"{BasicsMesh.Ns}/bound");
        Assert.True(bound.Code == 0, bound.Stderr);
        Match("describe-bound.txt", bound.Stdout);
        var unbound = await RunAsync("describe", "service", $"{BasicsMesh.Ns}/unbound");
        Assert.True(unbound.Code == 0, unbound.Stderr);
        Match("describe-unbound.txt", unbound.Stdout);
    }

    [Fact]
    public async Task Config_Summarises_What_The_Xds_Server_Serves_And_Json_Has_The_Full_Resources()
    {
        var clusters = await RunAsync("config", $"{BasicsMesh.Ns}/waypoint", "clusters");
        Assert.True(clusters.Code == 0, clusters.Stderr);
        Match("config-clusters.txt", clusters.Stdout);
        var json = await RunAsync("config", $"{BasicsMesh.Ns}/waypoint", "listeners", "-o", "json");
        Assert.True(json.Code == 0, json.Stderr);
        Assert.Contains("\"name\": \"connect_terminate\"", json.Stdout, StringComparison.Ordinal);
        Assert.Contains("envoy.filters.network.http_connection_manager", json.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unknown_Objects_And_A_Missing_Box_Give_Clear_Errors()
    {
        var missing = await RunAsync("config", $"{BasicsMesh.Ns}/no-such-gateway");
        Assert.Equal(1, missing.Code);
        Assert.Contains("is not a waypoint this controller serves", missing.Stderr, StringComparison.Ordinal);
        var noBox = await RunAsync(["status", "--local", "--state-file", "/nonexistent/state.json"], addLocal: false);
        Assert.Equal(1, noBox.Code);
        Assert.Contains("No waypoint local is running here", noBox.Stderr, StringComparison.Ordinal);
    }

    private Task<(int Code, string Stdout, string Stderr)> RunAsync(params string[] arguments) => RunAsync(arguments, addLocal: true);

    private async Task<(int Code, string Stdout, string Stderr)> RunAsync(string[] arguments, bool addLocal, bool inBox = false)
    {
        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";
        var startInfo = new ProcessStartInfo(inBox ? "nsenter" : dotnet)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (inBox)
        {
            // Only the network namespace: the CLI reads the kubeconfig and its certificates from the host's files.
            startInfo.ArgumentList.Add($"--target={mesh.State.UnshareProcessId}");
            if (mesh.State.UserNamespace)
            {
                startInfo.ArgumentList.Add("--user");
                startInfo.ArgumentList.Add("--preserve-credentials");
            }

            startInfo.ArgumentList.Add("--net");
            startInfo.ArgumentList.Add("--");
            startInfo.ArgumentList.Add(dotnet);
        }

        startInfo.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "waypoint.dll"));
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        if (addLocal)
        {
            startInfo.ArgumentList.Add("--local");
            startInfo.ArgumentList.Add("--state-file");
            startInfo.ArgumentList.Add(mesh.StateFile);
        }

        using var process = Process.Start(startInfo)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout, await stderr);
    }

    /// <summary>Addresses, times, durations, content versions and pod hashes vary by run; column widths follow them (indentation stays).</summary>
    internal static string Normalize(string text)
    {
        text = Ipv4().Replace(text, "<ip>");
        text = IsoTime().Replace(text, "<time>");
        text = Duration().Replace(text, "in <duration>");
        text = Version().Replace(text, "<version>");
        text = PodHash().Replace(text, "$1-<pod>");
        text = Spaces().Replace(text, "  ");
        return text;
    }

    private static string GoldenPath(string name, [CallerFilePath] string caller = "") => Path.Combine(Path.GetDirectoryName(caller)!, "Golden", name);

    private static void Match(string name, string actual, [CallerFilePath] string caller = "")
    {
        var path = GoldenPath(name, caller);
        var normalized = Normalize(actual);
        if (Environment.GetEnvironmentVariable("WAYPOINT_UPDATE_GOLDEN") == "1")
        {
            File.WriteAllText(path, normalized);
            return;
        }

        Assert.True(File.Exists(path), $"Golden file {path} is missing (WAYPOINT_UPDATE_GOLDEN=1 writes it). Output:\n{actual}");
        Assert.Equal(File.ReadAllText(path), normalized);
    }

    [GeneratedRegex(@"\b\d{1,3}(\.\d{1,3}){3}(:\d+)?\b")]
    private static partial Regex Ipv4();

    [GeneratedRegex(@"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")]
    private static partial Regex IsoTime();

    [GeneratedRegex(@"in \d+(s|m|h\d+m|d\d+h)\b")]
    private static partial Regex Duration();

    [GeneratedRegex(@"\b[0-9a-f]{12,}\b")]
    private static partial Regex Version();

    [GeneratedRegex(@"\b(waypoint|bound|unbound|client)-[a-z0-9]{6,10}-[a-z0-9]{5}\b")]
    private static partial Regex PodHash();

    [GeneratedRegex(@"(?<=\S) {2,}")]
    private static partial Regex Spaces();
}
