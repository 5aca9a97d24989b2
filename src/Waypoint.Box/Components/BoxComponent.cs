using System.Diagnostics;
using Waypoint.Box.Network;

namespace Waypoint.Box.Components;

/// <summary>What a <see cref="BoxComponent"/> runs and how it knows it is ready.</summary>
public sealed record BoxComponentSpec
{
    /// <summary>The component's name: its log is <c>&lt;work&gt;/log/&lt;name&gt;.log</c>.</summary>
    public required string Name { get; init; }

    public required string Executable { get; init; }

    public IReadOnlyList<string> Arguments { get; init; } = [];

    /// <summary>Variables set for the process (a null value removes an inherited one).</summary>
    public IReadOnlyDictionary<string, string?> Environment { get; init; } = new Dictionary<string, string?>();

    public string? WorkingDirectory { get; init; }

    /// <summary>True once the component serves; polled until then (a false or an exception means not yet).</summary>
    public required Func<CancellationToken, Task<bool>> IsReadyAsync { get; init; }

    public TimeSpan ReadyTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Start the process again when it exits after it was ready, as a Deployment's pod would be (istiod); without it an
    /// exit is a crash of the box.
    /// </summary>
    public bool RestartOnExit { get; init; }

    /// <summary>How long a restart waits after the exit.</summary>
    public TimeSpan RestartDelay { get; init; } = TimeSpan.FromSeconds(1);
}

/// <summary>
/// One process of the box: started with its output in its own log file, waited for until ready, stopped with
/// SIGTERM (then SIGKILL after a timeout). A start failure is a <see cref="BoxComponentException"/> naming it. With
/// <see cref="BoxComponentSpec.RestartOnExit"/> an exit after it was ready starts it again (same log, new pid).
/// </summary>
public sealed class BoxComponent : IDisposable
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);
    private readonly BoxComponentSpec _spec;
    private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _lock = new();
    private Process? _process;
    private bool _ready;
    private int _restarts;

    public BoxComponent(BoxComponentSpec spec, string logDirectory)
    {
        ArgumentNullException.ThrowIfNull(spec);
        _spec = spec;
        LogPath = Path.Combine(logDirectory, spec.Name + ".log");
    }

    public string Name => _spec.Name;

    public string LogPath { get; }

    /// <summary>Raised (on a pool thread) after a restart started a new process; <see cref="ProcessId"/> is the new one.</summary>
    public event EventHandler? Restarted;

    /// <summary>How many times the process was started again after an exit.</summary>
    public int Restarts => Volatile.Read(ref _restarts);

    /// <summary>
    /// Completes when the process exits for good (after <see cref="StartAsync"/>; never before it is started): not on an
    /// exit followed by a restart.
    /// </summary>
    public Task Exited => _exited.Task;

    /// <summary>The exit code once exited.</summary>
    public int? ExitCode => _process is { HasExited: true } process ? process.ExitCode : null;

    /// <summary>The process id once started.</summary>
    public int? ProcessId => _process?.Id;

    /// <summary>Starts the process and waits until it is ready; throws <see cref="BoxComponentException"/> when it dies or times out.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (_process is not null)
        {
            throw new InvalidOperationException($"{Name} was already started.");
        }

        _process = Launch();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_spec.ReadyTimeout);
        while (true)
        {
            if (_process.HasExited)
            {
                throw BoxComponentException.Create(Name, _process.ExitCode, LogPath, $"{Name} exited with exit code {_process.ExitCode} before it was ready");
            }

            try
            {
                if (await _spec.IsReadyAsync(timeout.Token).ConfigureAwait(false))
                {
                    lock (_lock)
                    {
                        _ready = true;
                    }

                    return;
                }
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested)
            {
                // Decided below.
            }
#pragma warning disable CA1031 // any probe failure means "not ready yet"
            catch (Exception)
#pragma warning restore CA1031
            {
            }

            if (timeout.IsCancellationRequested)
            {
                cancellationToken.ThrowIfCancellationRequested();
                throw BoxComponentException.Create(Name, _process.HasExited ? _process.ExitCode : null, LogPath,
                    $"{Name} was not ready within {_spec.ReadyTimeout.TotalSeconds:0} s");
            }

            try
            {
                await Task.WhenAny(Task.Delay(PollInterval, timeout.Token), _process.WaitForExitAsync(timeout.Token)).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested)
            {
            }
        }
    }

    /// <summary>SIGTERM, wait up to <paramref name="timeout"/>, then SIGKILL; returns when the process is gone (never restarted).</summary>
    public async Task StopAsync(TimeSpan timeout)
    {
        lock (_lock)
        {
            _stopping.Cancel();
        }

        if (_process is null || _process.HasExited)
        {
            return;
        }

        _ = Libc.Kill(_process.Id, Libc.SigTerm);
        using var wait = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(wait.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }

    public void Dispose()
    {
        _process?.Dispose();
        _stopping.Dispose();
    }

    private Process Launch()
    {
        // sh only redirects and execs: the pid is the component's own, so signals reach it directly.
        var startInfo = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, WorkingDirectory = _spec.WorkingDirectory ?? string.Empty };
        foreach (var argument in (string[])["-c", "log=$1; shift; exec \"$@\" >>\"$log\" 2>&1 </dev/null", "sh", LogPath, _spec.Executable, .. _spec.Arguments])
        {
            startInfo.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in _spec.Environment)
        {
            if (value is null)
            {
                startInfo.Environment.Remove(name);
            }
            else
            {
                startInfo.Environment[name] = value;
            }
        }

        var process = Process.Start(startInfo) ?? throw new BoxComponentException(Name, null, LogPath, $"{Name} could not be started.");
        _ = WatchAsync(process);
        return process;
    }

    /// <summary>On the process's exit: start it again (a supervised component that was ready, not being stopped), or report the exit.</summary>
    private async Task WatchAsync(Process process)
    {
        await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        if (_spec.RestartOnExit && _ready && !_stopping.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(_spec.RestartDelay, _stopping.Token).ConfigureAwait(false);
                lock (_lock)
                {
                    _stopping.Token.ThrowIfCancellationRequested();
                    _process = Launch();
                    Interlocked.Increment(ref _restarts);
                }

                process.Dispose();
                Restarted?.Invoke(this, EventArgs.Empty);
                return;
            }
            catch (OperationCanceledException)
            {
                // Stopped while waiting to restart: this exit is final.
            }
#pragma warning disable CA1031 // a failed restart is this component's final exit, reported like any other
            catch (Exception)
#pragma warning restore CA1031
            {
            }
        }

        _exited.TrySetResult();
    }
}
