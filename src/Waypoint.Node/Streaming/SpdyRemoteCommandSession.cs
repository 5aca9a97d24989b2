using System.Buffers;
using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Waypoint.Node.Streaming;

/// <summary>
/// Exec over SPDY (<c>v4.channel.k8s.io</c>/<c>v5.channel.k8s.io</c>, what the kubelet's streaming server speaks):
/// the client opens one stream per channel, named by its <c>streamType</c> header — <c>error</c> always, and
/// <c>stdin</c>, <c>stdout</c>, <c>stderr</c> as the exec asked, <c>resize</c> with a TTY (ignored: no TTY here).
/// Once all have arrived the command runs; stdin's FIN closes its stdin; when it exits, stdout and stderr are closed
/// (FIN) after their output and the final <c>metav1.Status</c> JSON is written on the error stream, then GOAWAY.
/// </summary>
internal sealed class SpdyRemoteCommandSession
{
    /// <summary>How long the client may take to open its streams (the kubelet's stream creation timeout).</summary>
    private static readonly TimeSpan StreamsLimit = TimeSpan.FromSeconds(30);

    /// <summary>How long output may still drain after the command exits, and the client may take to close after the status.</summary>
    private static readonly TimeSpan DrainLimit = TimeSpan.FromSeconds(5);

    private readonly SpdyConnection _connection;
    private readonly string _protocol;
    private readonly ExecSessionRequest _request;
    private readonly ILogger _logger;

    public SpdyRemoteCommandSession(SpdyConnection connection, string protocol, ExecSessionRequest request, ILogger logger)
    {
        _connection = connection;
        _protocol = protocol;
        _request = request;
        _logger = logger;
    }

    private string ShortId => _request.ContainerId[..Math.Min(12, _request.ContainerId.Length)];

    public async Task RunAsync(ProcessStartInfo start, CancellationToken aborted)
    {
        ArgumentNullException.ThrowIfNull(start);
        using var ended = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        var reading = _connection.RunAsync(ended.Token);
        try
        {
            var streams = await WaitForStreamsAsync(ended.Token).ConfigureAwait(false);
            if (streams is not null)
            {
                await ExecuteAsync(start, streams, reading, ended).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
        {
            // The client went away.
        }
        finally
        {
            await ended.CancelAsync().ConfigureAwait(false);
            await reading.ConfigureAwait(false);
        }
    }

    private async Task<Dictionary<string, SpdyStream>?> WaitForStreamsAsync(CancellationToken cancellationToken)
    {
        var wanted = new HashSet<string>(StringComparer.Ordinal) { "error" };
        if (_request.Stdin)
        {
            wanted.Add("stdin");
        }

        if (_request.Stdout)
        {
            wanted.Add("stdout");
        }

        if (_request.Stderr)
        {
            wanted.Add("stderr");
        }

        var streams = new Dictionary<string, SpdyStream>(StringComparer.Ordinal);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(StreamsLimit);
        try
        {
            while (!wanted.IsSubsetOf(streams.Keys))
            {
                var stream = await _connection.IncomingStreams.ReadAsync(limit.Token).ConfigureAwait(false);
                var type = stream.Headers.Get("streamType");
                if (type is not ("error" or "stdin" or "stdout" or "stderr" or "resize") || streams.ContainsKey(type))
                {
                    await stream.ResetAsync(cancellationToken).ConfigureAwait(false);
                    continue;
                }

                await stream.ReplyAsync(cancellationToken).ConfigureAwait(false);
                streams[type] = stream;
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or System.Threading.Channels.ChannelClosedException)
        {
            StreamingLog.SpdyExecStreamsMissing(_logger, ShortId, string.Join(", ", wanted.Except(streams.Keys)));
            return null;
        }

        return streams;
    }

    private async Task ExecuteAsync(ProcessStartInfo start, Dictionary<string, SpdyStream> streams, Task reading, CancellationTokenSource ended)
    {
        var process = ExecProcess.TryStart(start, _logger, ShortId);

        if (process is null)
        {
            await FinishAsync(streams, RemoteCommandProtocol.InternalError($"The command {string.Join(' ', _request.Command)} could not be started."), reading, ended.Token).ConfigureAwait(false);
            return;
        }

        using (process)
        {
            StreamingLog.ExecStarted(_logger, ShortId, _request.Command, "SPDY/3.1 " + _protocol);
            streams.TryGetValue("stdin", out var stdin);
            if (stdin is null)
            {
                process.StandardInput.Close();
            }
            else
            {
                _ = CopyStdinAsync(stdin, process.StandardInput.BaseStream, ended.Token);
            }

            streams.TryGetValue("stdout", out var stdout);
            streams.TryGetValue("stderr", out var stderr);
            var output = Task.WhenAll(
                PumpAsync(process.StandardOutput.BaseStream, stdout, ended.Token),
                PumpAsync(process.StandardError.BaseStream, stderr, ended.Token));
            using var clientGone = CancellationTokenSource.CreateLinkedTokenSource(ended.Token);
            _ = reading.ContinueWith(_ => clientGone.Cancel(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            try
            {
                await process.WaitForExitAsync(clientGone.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                try
                {
                    process.Kill(entireProcessTree: true);
                }
                catch (InvalidOperationException)
                {
                    // Already exited.
                }

                StreamingLog.ExecAbandoned(_logger, ShortId);
                return;
            }

            try
            {
                await output.WaitAsync(DrainLimit, ended.Token).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // A descendant still holds the pipes; what it writes later is not the command's output.
            }

            var status = process.ExitCode == 0 ? RemoteCommandProtocol.Success() : RemoteCommandProtocol.NonZeroExit(process.ExitCode, _request.Command);
            StreamingLog.ExecFinished(_logger, ShortId, process.ExitCode, "SPDY/3.1 " + _protocol);
            await FinishAsync(streams, status, reading, ended.Token).ConfigureAwait(false);
        }
    }

    private async Task FinishAsync(Dictionary<string, SpdyStream> streams, string status, Task reading, CancellationToken cancellationToken)
    {
        foreach (var type in (string[])["stdout", "stderr"])
        {
            if (streams.TryGetValue(type, out var stream))
            {
                await stream.CloseWriteAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        var error = streams["error"];
        await error.WriteAsync(Encoding.UTF8.GetBytes(status), cancellationToken).ConfigureAwait(false);
        await error.CloseWriteAsync(cancellationToken).ConfigureAwait(false);
        await _connection.GoAwayAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // The client closes once it has read the status; closing first could cut what it has not read yet.
            await reading.WaitAsync(DrainLimit, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // It does not close: the connection goes with the session.
        }
    }

    private static async Task CopyStdinAsync(SpdyStream stdin, Stream target, CancellationToken cancellationToken)
    {
        var buffer = new byte[32 * 1024];
        try
        {
            while (true)
            {
                var read = await stdin.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }

                await target.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                await target.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or OperationCanceledException)
        {
            // The command closed its stdin or the client went away.
        }
        finally
        {
            try
            {
                target.Close(); // The client's FIN is the end of the command's stdin.
            }
            catch (IOException)
            {
                // The command is gone.
            }
        }
    }

    /// <summary>Copies one output pipe to its stream (or drains it when the client did not ask for it).</summary>
    private static async Task PumpAsync(Stream source, SpdyStream? target, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(32 * 1024);
        try
        {
            while (true)
            {
                var read = await source.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    return;
                }

                if (target is not null)
                {
                    await target.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                }
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or OperationCanceledException)
        {
            // The command or the client went away.
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
