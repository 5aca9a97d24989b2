using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Waypoint.TestKit.Observability;

/// <summary>
/// A Prometheus or Jaeger process the tests start: its temporary folder, the tail of its output (for failure
/// messages), the wait until it is ready, and killing it and deleting the folder when done.
/// </summary>
internal sealed class ObservedProcess : IAsyncDisposable
{
    private const int OutputLimit = 200;
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(60);
    private readonly string _name;
    private readonly Process _process;
    private readonly Queue<string> _output = new();

    private ObservedProcess(string name, Process process, string directory)
    {
        _name = name;
        _process = process;
        Directory = directory;
        _process.OutputDataReceived += (_, e) => Remember(e.Data);
        _process.ErrorDataReceived += (_, e) => Remember(e.Data);
    }

    /// <summary>The process' temporary folder, deleted on dispose.</summary>
    public string Directory { get; }

    /// <summary>Starts <paramref name="start"/> (its output redirected), whose files live in <paramref name="directory"/>.</summary>
    public static ObservedProcess Start(string name, ProcessStartInfo start, string directory)
    {
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.UseShellExecute = false;
        start.WorkingDirectory = directory;
        var process = Process.Start(start) ?? throw new InvalidOperationException($"{start.FileName} did not start.");
        var observed = new ObservedProcess(name, process, directory);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return observed;
    }

    /// <summary>A loopback port nothing listens on now.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Polls <paramref name="ready"/> until it holds; throws with the output's tail if the process exits or 60 s pass first.</summary>
    public async Task WaitUntilReadyAsync(Func<CancellationToken, Task<bool>> ready, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(ReadyTimeout);
        try
        {
            while (!await ready(timeout.Token).ConfigureAwait(false))
            {
                if (_process.HasExited)
                {
                    throw new InvalidOperationException($"{_name} exited with {_process.ExitCode}:\n{OutputTail()}");
                }

                await Task.Delay(200, timeout.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"{_name} did not become ready within {ReadyTimeout.TotalSeconds} s:\n{OutputTail()}");
        }
    }

    public string OutputTail()
    {
        lock (_output)
        {
            return $"--- {_name.ToLowerInvariant()} output (tail) ---\n" + string.Join('\n', _output);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            // Nothing to stop cleanly (throw-away storage, ports of its own; nsenter execs the binary in place, so
            // this pid is the binary's), and SIGTERM takes Jaeger 7-12 s.
            _process.Kill();
            await _process.WaitForExitAsync().ConfigureAwait(false);
        }

        _process.Dispose();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private void Remember(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.Enqueue(line);
            while (_output.Count > OutputLimit)
            {
                _output.Dequeue();
            }
        }
    }
}
