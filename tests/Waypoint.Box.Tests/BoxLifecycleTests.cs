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
        int[] pids = [state.UnshareProcessId, state.BoxProcessId, .. state.Components.Select(c => c.ProcessId)];
        Assert.Equal(6, pids.Distinct().Count());
        Assert.All(pids, pid => Assert.True(Directory.Exists($"/proc/{pid}"), $"pid {pid} is not running"));
        Assert.NotNull(state.NetworkNamespaceId);
        Assert.NotEmpty(ProcessesIn(state.NetworkNamespaceId));

        var exitCode = await box.StopAsync();

        Assert.True(exitCode == 0, box.Output);
        Assert.All(pids, pid => Assert.False(Directory.Exists($"/proc/{pid}"), $"pid {pid} is still there"));
        Assert.Empty(ProcessesIn(state.NetworkNamespaceId));
        Assert.False(Directory.Exists(state.WorkDirectory), $"{state.WorkDirectory} is still there");
        Assert.False(File.Exists(box.StatePath));
        Assert.Contains("The box stopped.", box.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_component_dying_while_the_box_runs_stops_the_box_and_names_it()
    {
        await using var box = BoxProcess.Start("--no-istiod");
        await box.WaitReadyAsync();
        var state = await BoxState.ReadAsync(box.StatePath, CancellationToken.None);
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

    private static List<int> ProcessesIn(string networkNamespaceId) =>
        Directory.EnumerateDirectories("/proc")
            .Select(d => int.TryParse(Path.GetFileName(d), out var pid) ? pid : 0)
            .Where(pid => pid > 0 && Network.BoxNetwork.NetworkNamespaceOf(pid) == networkNamespaceId)
            .ToList();
}
