using k8s;
using Waypoint.Box.Assets;

using Waypoint.TestKit.Box;

namespace Waypoint.Box.Tests;

[Collection(BoxCollectionDefinition.Name)]
public sealed class BoxLifecycleTests
{
    [Fact]
    public async Task SIGTERM_stops_every_process_of_the_box_and_removes_its_work_directory_and_state_file()
    {
        await using var box = BoxProcess.Start("--no-istiod");
        await box.WaitReadyAsync();
        var state = await BoxState.ReadAsync(box.StatePath, CancellationToken.None);
        Assert.NotNull(state.Node);
        var (containerPid, podNamespace) = await RunContainerAsync(box.StatePath);
        int[] pids = [state.UnshareProcessId, state.BoxProcessId, .. state.Components.Select(c => c.ProcessId), state.Node.KubeletProcessId, containerPid];
        Assert.Equal(8, pids.Distinct().Count());
        Assert.All(pids, pid => Assert.True(Directory.Exists($"/proc/{pid}"), $"pid {pid} is not running"));
        Assert.NotNull(state.NetworkNamespaceId);
        Assert.NotEmpty(ProcessesIn(state.NetworkNamespaceId));
        Assert.NotEqual(state.NetworkNamespaceId, podNamespace);

        var exitCode = await box.StopAsync();

        Assert.True(exitCode == 0, box.Output);
        Assert.All(pids, pid => Assert.False(Directory.Exists($"/proc/{pid}"), $"pid {pid} is still there"));
        var left = ProcessesIn(state.NetworkNamespaceId).Concat(ProcessesIn(podNamespace)).ToList();
        Assert.True(left.Count == 0, "still in the box's or the pod's network namespace: " + string.Join("; ", left.Select(Describe)));
        Assert.False(Directory.Exists(state.WorkDirectory), $"{state.WorkDirectory} is still there");
        Assert.False(File.Exists(box.StatePath));
        Assert.Contains("The box stopped.", box.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_kubelet_dying_while_the_box_runs_stops_the_box_and_names_it()
    {
        await using var box = BoxProcess.Start("--no-istiod");
        await box.WaitReadyAsync();
        var state = await BoxState.ReadAsync(box.StatePath, CancellationToken.None);
        Assert.NotNull(state.Node);

        _ = Kill(state.Node.KubeletProcessId, 9);
        var exitCode = await box.WaitForExitAsync();

        Assert.True(exitCode == 1, box.Output);
        Assert.Contains("kubelet exited with exit code 137 while the box ran", box.Output, StringComparison.Ordinal);
        Assert.Contains($"Log: {state.Node.KubeletLogPath}", box.Output, StringComparison.Ordinal);
        Assert.All(state.Components, c => Assert.False(Directory.Exists($"/proc/{c.ProcessId}"), $"{c.Name} (pid {c.ProcessId}) is still there"));
    }

    /// <summary>Runs a pod on the box's node; returns its container's pid (found by a marker in its environment) and network namespace.</summary>
    private static async Task<(int Pid, string NetworkNamespace)> RunContainerAsync(string statePath)
    {
        var marker = $"WAYPOINT_LIFECYCLE_MARKER={Guid.NewGuid():N}";
        using var connection = await KubernetesBox.AttachAsync(statePath, CancellationToken.None);
        using var client = connection.CreateKubernetesClient();
        var pod = new k8s.Models.V1Pod
        {
            Metadata = new k8s.Models.V1ObjectMeta { Name = "sleeper" },
            Spec = new k8s.Models.V1PodSpec
            {
                AutomountServiceAccountToken = false,
                Containers = [new k8s.Models.V1Container { Name = "sleep", Image = "waypoint/echo", Command = ["sleep", "600"], Env = [new k8s.Models.V1EnvVar { Name = marker.Split('=')[0], Value = marker.Split('=')[1] }] }],
            },
        };
        // Bounded retries, not timing: the ServiceAccount admission refuses pods until `default` exists, then the kubelet starts it.
        for (var attempt = 0; attempt < 600; attempt++)
        {
            try
            {
                await client.CoreV1.CreateNamespacedPodAsync(pod, "default");
                break;
            }
            catch (k8s.Autorest.HttpOperationException ex) when (ex.Response.StatusCode == System.Net.HttpStatusCode.Forbidden)
            {
                await Task.Delay(100);
            }
        }

        for (var attempt = 0; attempt < 600; attempt++)
        {
            foreach (var pid in Directory.EnumerateDirectories("/proc").Select(d => int.TryParse(Path.GetFileName(d), out var p) ? p : 0).Where(p => p > 0))
            {
                try
                {
                    // The same pid is setsid, then nsenter, then unshare, sh and at last `sleep` (each execs the next):
                    // only once it is `sleep` has it joined the pod's namespaces.
                    if (File.ReadAllText($"/proc/{pid}/environ").Split('\0').Contains(marker)
                        && File.ReadAllText($"/proc/{pid}/cmdline").StartsWith("sleep\0", StringComparison.Ordinal)
                        && Network.BoxNetwork.NetworkNamespaceOf(pid) is { } id)
                    {
                        return (pid, id);
                    }
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                }
            }

            await Task.Delay(100);
        }

        throw new InvalidOperationException("The pod's container never started.");
    }

    [Fact]
    public async Task A_component_dying_while_the_box_runs_stops_the_box_and_names_it()
    {
        await using var box = BoxProcess.Start("--no-istiod", "--no-node");
        await box.WaitReadyAsync();
        var state = await BoxState.ReadAsync(box.StatePath, CancellationToken.None);
        Assert.Null(state.Node);
        var scheduler = state.Components.Single(c => c.Name == "kube-scheduler");

        _ = Kill(scheduler.ProcessId, 9);
        var exitCode = await box.WaitForExitAsync();

        Assert.True(exitCode == 1, box.Output);
        Assert.Contains("kube-scheduler exited with exit code 137 while the box ran", box.Output, StringComparison.Ordinal);
        Assert.Contains($"Log: {scheduler.LogPath}", box.Output, StringComparison.Ordinal);
        Assert.All(state.Components, c => Assert.False(Directory.Exists($"/proc/{c.ProcessId}"), $"{c.Name} (pid {c.ProcessId}) is still there"));
    }

    [Fact]
    public async Task A_component_that_fails_to_start_is_named_with_its_exit_code_log_path_and_last_log_lines()
    {
        await using var box = BoxProcess.Start("--no-istiod", "--component-arg", "etcd=--no-such-flag");

        var exitCode = await box.WaitForExitAsync();

        Assert.True(exitCode == 1, box.Output);
        var log = Path.Combine(box.WorkDirectory, "log", "etcd.log");
        var output = box.Output;
        Assert.Contains("The box failed to start: etcd exited with exit code", output, StringComparison.Ordinal);
        Assert.Contains($"Log: {log}", output, StringComparison.Ordinal);
        var lastLine = File.ReadAllLines(log).Last(l => l.Trim().Length > 0).Trim();
        Assert.Contains("no-such-flag", File.ReadAllText(log), StringComparison.Ordinal);
        Assert.Contains(lastLine, output, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(box.WorkDirectory, "log", "kube-apiserver.log")), "nothing after etcd may start");
    }

    [Fact]
    public async Task Missing_assets_are_reported_with_how_to_get_them()
    {
        await using var box = BoxProcess.Start(new Dictionary<string, string> { [KubernetesAssets.AssetsVariable] = "/nonexistent/k8s-assets" }, "--no-istiod");

        var exitCode = await box.WaitForExitAsync();

        Assert.True(exitCode == 2, box.Output);
        Assert.Contains("WAYPOINT_K8S_ASSETS is set to '/nonexistent/k8s-assets'", box.Output, StringComparison.Ordinal);
        Assert.Contains("KUBEBUILDER_ASSETS", box.Output, StringComparison.Ordinal);
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill")]
#pragma warning disable SYSLIB1054 // a test helper; one call
    private static extern int Kill(int pid, int signal);
#pragma warning restore SYSLIB1054

    private static string Describe(int pid)
    {
        try
        {
            return $"{pid} {File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ')} (parent {File.ReadAllLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("PPid:", StringComparison.Ordinal))})";
        }
        catch (IOException)
        {
            return $"{pid} (gone)";
        }
    }

    private static List<int> ProcessesIn(string networkNamespaceId) =>
        Directory.EnumerateDirectories("/proc")
            .Select(d => int.TryParse(Path.GetFileName(d), out var pid) ? pid : 0)
            .Where(pid => pid > 0 && Network.BoxNetwork.NetworkNamespaceOf(pid) == networkNamespaceId)
            .ToList();
}
