using System.Diagnostics;
using System.Text;

namespace Waypoint.Node.Containers;

/// <summary>How a container process ended.</summary>
internal sealed record ContainerExit(int ExitCode, DateTimeOffset FinishedAt, string Reason);

/// <summary>
/// One running container: the process (leader of its own process group), the pumps copying its stdout and stderr into
/// the CRI log, and its exit. Stopping signals the whole group: SIGTERM, then SIGKILL after the grace period; when
/// the main process exits, whatever else is left in its group is killed too, as a runtime kills a container's cgroup.
/// </summary>
internal sealed class ContainerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly CriLogWriter _log;
    private readonly Task _pumps;
    private readonly TaskCompletionSource<ContainerExit> _exit = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TimeProvider _time;

    private ContainerProcess(Process process, CriLogWriter log, TimeProvider time)
    {
        _process = process;
        _log = log;
        _time = time;
        StartedAt = time.GetUtcNow();
        _pumps = Task.WhenAll(
            PumpAsync(process.StandardOutput, "stdout"),
            PumpAsync(process.StandardError, "stderr"));
        _ = WatchAsync();
    }

    public int ProcessId => _process.Id;

    public DateTimeOffset StartedAt { get; }

    public Task<ContainerExit> Exited => _exit.Task;

    public ContainerExit? Exit => _exit.Task.IsCompleted ? _exit.Task.Result : null;

    public static ContainerProcess Start(ContainerLaunch launch, NodeTools tools, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(launch);
        var argv = ContainerCommandLine.Build(launch, tools);
        var start = new ProcessStartInfo(argv[0])
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = new UTF8Encoding(false),
            StandardErrorEncoding = new UTF8Encoding(false),
        };
        foreach (var argument in argv.Skip(1))
        {
            start.ArgumentList.Add(argument);
        }

        // The container sees only the kubelet's environment (and a PATH, as an image would have one).
        start.Environment.Clear();
        start.Environment["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        foreach (var (name, value) in launch.Environment)
        {
            start.Environment[name] = value;
        }

        start.Environment["WP_STAGE"] = launch.StageDirectory;
        Directory.CreateDirectory(launch.StageDirectory);
        var log = new CriLogWriter(launch.LogPath, time);
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {argv[0]}.");
        }
        catch
        {
            log.Dispose();
            throw;
        }

        process.StandardInput.Close();
        return new ContainerProcess(process, log, time);
    }

    /// <summary>SIGTERM to the group, then SIGKILL once <paramref name="grace"/> has passed; completes when it has exited.</summary>
    public async Task<ContainerExit> StopAsync(TimeSpan grace, CancellationToken cancellationToken)
    {
        if (Exit is { } done)
        {
            return done;
        }

        if (grace > TimeSpan.Zero)
        {
            Posix.SignalGroup(_process.Id, Posix.SigTerm);
            try
            {
                return await Exited.WaitAsync(grace, _time, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // Did not stop in time: kill it.
            }
        }

        Posix.SignalGroup(_process.Id, Posix.SigKill);
        return await Exited.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public void ReopenLog() => _log.Reopen();

    public async ValueTask DisposeAsync()
    {
        await StopAsync(TimeSpan.Zero, CancellationToken.None).ConfigureAwait(false);
        _process.Dispose();
    }

    private async Task WatchAsync()
    {
        await _process.WaitForExitAsync().ConfigureAwait(false);
        var code = _process.ExitCode;
        var finished = _time.GetUtcNow();

        // The container is its process group: nothing it started may outlive it.
        Posix.SignalGroup(_process.Id, Posix.SigKill);
        try
        {
            await _pumps.WaitAsync(TimeSpan.FromSeconds(5), _time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // A descendant that left the group still holds the pipes; stop copying.
        }

        _log.Dispose();
        _exit.TrySetResult(new ContainerExit(code, finished, code == 0 ? "Completed" : "Error"));
    }

    private async Task PumpAsync(StreamReader reader, string stream)
    {
        try
        {
            while (await reader.ReadLineAsync().ConfigureAwait(false) is { } line)
            {
                _log.Write(stream, line);
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            // The process went away.
        }
    }
}
