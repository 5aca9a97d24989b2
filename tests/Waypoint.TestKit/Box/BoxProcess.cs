using System.Diagnostics;
using System.Text;
using System.Runtime.Versioning;
using Xunit;
using Waypoint.Box;
using Waypoint.Box.Assets;
using Waypoint.Box.Network;

namespace Waypoint.TestKit.Box;

/// <summary>
/// A real <c>waypoint box</c> started the way a user starts it (the launcher re-executes itself inside new
/// namespaces), in a temp folder of its own; stopped with SIGTERM like Ctrl-C would. The test project must reference
/// src/Waypoint.Host so that <c>waypoint.dll</c> lands beside the tests.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class BoxProcess : IAsyncDisposable
{
    /// <summary>A safety net for a hung start, not a timed assertion.</summary>
    private static readonly TimeSpan StartLimit = TimeSpan.FromMinutes(3);
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private BoxProcess(Process process, string directory)
    {
        _process = process;
        Directory = directory;
    }

    /// <summary>The test's own folder: <c>work/</c> (the box's work dir) and <c>state.json</c>.</summary>
    public string Directory { get; }

    public string WorkDirectory => Path.Combine(Directory, "work");

    public string StatePath => Path.Combine(Directory, "state.json");

    public int LauncherProcessId => _process.Id;

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

    /// <summary>Fails with a clear message when this machine cannot run a box (tests needing one never skip).</summary>
    public static void RequireBoxPrerequisites()
    {
        if (!IsRoot())
        {
            Assert.Fail("The box tests need root: they join the box's network namespace with setns(2). Run them as root (CI does).");
        }

        try
        {
            _ = KubernetesAssets.Locate();
        }
        catch (KubernetesAssetsNotFoundException ex)
        {
            Assert.Fail($"The box tests need the real Kubernetes binaries: {ex.Message}");
        }
    }

    public static BoxProcess Start(params string[] arguments) => Start(new Dictionary<string, string>(), arguments);

    public static BoxProcess Start(IReadOnlyDictionary<string, string> environment, params string[] arguments)
    {
        RequireBoxPrerequisites();
        var directory = System.IO.Directory.CreateTempSubdirectory("waypoint-box-test-").FullName;
        var dll = Path.Combine(AppContext.BaseDirectory, "waypoint.dll");
        var startInfo = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var argument in (string[])[dll, "box", "--work-dir", Path.Combine(directory, "work"), "--state-file", Path.Combine(directory, "state.json"), .. arguments])
        {
            startInfo.ArgumentList.Add(argument);
        }

        startInfo.Environment.Remove(BoxLauncher.InsideVariable);
        foreach (var (name, value) in environment)
        {
            startInfo.Environment[name] = value;
        }

        var process = Process.Start(startInfo)!;
        var box = new BoxProcess(process, directory);
        process.OutputDataReceived += (_, e) => box.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => box.OnLine(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return box;
    }

    /// <summary>Completes once the box printed its ready line; throws with its output if it exited first.</summary>
    public async Task WaitReadyAsync()
    {
        var exited = _process.WaitForExitAsync();
        var first = await Task.WhenAny(_ready.Task, exited, Task.Delay(StartLimit)).ConfigureAwait(false);
        if (first != _ready.Task)
        {
            throw new InvalidOperationException(
                $"waypoint box {(first == exited ? $"exited with exit code {_process.ExitCode}" : "did not become ready")} before it was ready. Its output:\n{Output}");
        }
    }

    /// <summary>Waits until the process exits by itself (e.g. a failed start) and returns its exit code.</summary>
    public async Task<int> WaitForExitAsync()
    {
        using var limit = new CancellationTokenSource(StartLimit);
        await _process.WaitForExitAsync(limit.Token).ConfigureAwait(false);
        _process.WaitForExit();
        return _process.ExitCode;
    }

    /// <summary>SIGTERM to the launcher (as a service manager or Ctrl-C would) and its exit code.</summary>
    public async Task<int> StopAsync()
    {
        if (!_process.HasExited)
        {
            _ = Kill(_process.Id, 15);
        }

        return await WaitForExitAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                await StopAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            _process.Dispose();
            try
            {
                System.IO.Directory.Delete(Directory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }

        if (line.Contains(KubernetesBox.ReadyLine, StringComparison.Ordinal))
        {
            _ready.TrySetResult();
        }
    }

    private static bool IsRoot() => File.ReadAllLines("/proc/self/status").Any(l => l.StartsWith("Uid:", StringComparison.Ordinal) && l.Split('\t', StringSplitOptions.RemoveEmptyEntries)[1] == "0");

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill")]
#pragma warning disable SYSLIB1054 // a test helper; one call
    private static extern int Kill(int pid, int signal);
#pragma warning restore SYSLIB1054
}
