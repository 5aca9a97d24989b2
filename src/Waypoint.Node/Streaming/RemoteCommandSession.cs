using System.Buffers;
using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Waypoint.Node.Streaming;

/// <summary>
/// One exec over an accepted WebSocket: runs the command (already placed in the container's namespaces by its start
/// info), copies stdin frames to it and its stdout/stderr out as frames, then sends the final status on the error
/// channel and closes. A client that goes away first ends the command (its whole process tree).
/// </summary>
internal sealed class RemoteCommandSession : IDisposable
{
    /// <summary>How long output may still drain after the command exits (a child that kept the pipes open must not hang the exec).</summary>
    private static readonly TimeSpan DrainLimit = TimeSpan.FromSeconds(5);

    private readonly WebSocket _socket;
    private readonly string _protocol;
    private readonly ExecSessionRequest _request;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _sending = new(1, 1);

    public RemoteCommandSession(WebSocket socket, string protocol, ExecSessionRequest request, ILogger logger)
    {
        _socket = socket;
        _protocol = protocol;
        _request = request;
        _logger = logger;
    }

    private string ShortId => StreamingLog.ShortId(_request.ContainerId);

    public async Task RunAsync(ProcessStartInfo start, CancellationToken aborted)
    {
        ArgumentNullException.ThrowIfNull(start);
        var process = ExecProcess.TryStart(start, _logger, ShortId);

        if (process is null)
        {
            await FinishAsync(RemoteCommandProtocol.InternalError($"The command {string.Join(' ', _request.Command)} could not be started."), aborted).ConfigureAwait(false);
            return;
        }

        using (process)
        using (var clientGone = CancellationTokenSource.CreateLinkedTokenSource(aborted))
        {
            if (!_request.Stdin)
            {
                process.StandardInput.Close();
            }

            var output = Task.WhenAll(
                PumpAsync(process.StandardOutput.BaseStream, RemoteCommandProtocol.StdoutChannel, _request.Stdout, aborted),
                PumpAsync(process.StandardError.BaseStream, RemoteCommandProtocol.StderrChannel, _request.Stderr, aborted));
            var receiving = ReceiveAsync(process, clientGone);
            try
            {
                await process.WaitForExitAsync(clientGone.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // The client closed or the server is stopping: the command ends with its session.
                Kill(process);
                StreamingLog.ExecAbandoned(_logger, ShortId);
                return;
            }

            try
            {
                await output.WaitAsync(DrainLimit, aborted).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // A descendant still holds the pipes; what it writes later is not the command's output.
            }

            var status = process.ExitCode == 0 ? RemoteCommandProtocol.Success() : RemoteCommandProtocol.NonZeroExit(process.ExitCode, _request.Command);
            StreamingLog.ExecFinished(_logger, ShortId, process.ExitCode, _protocol);
            await FinishAsync(status, aborted).ConfigureAwait(false);
            try
            {
                // The client answers the close; stopping to read before that could reset what it has not read yet.
                await receiving.WaitAsync(DrainLimit, aborted).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
            {
                await clientGone.CancelAsync().ConfigureAwait(false);
            }
        }
    }

    private async Task FinishAsync(string status, CancellationToken cancellationToken)
    {
        try
        {
            await SendAsync(RemoteCommandProtocol.ErrorChannel, Encoding.UTF8.GetBytes(status), cancellationToken).ConfigureAwait(false);
            using var closing = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            closing.CancelAfter(DrainLimit);
            await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, closing.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException)
        {
            // The client is gone; nobody is left to tell.
        }
    }

    /// <summary>Copies one output stream into frames of its channel (or drains it when the client did not ask for it).</summary>
    private async Task PumpAsync(Stream stream, byte channel, bool wanted, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(32 * 1024);
        try
        {
            while (true)
            {
                var read = await stream.ReadAsync(buffer.AsMemory(1, buffer.Length - 1), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    return;
                }

                if (wanted)
                {
                    buffer[0] = channel;
                    await SendFrameAsync(buffer.AsMemory(0, read + 1), cancellationToken).ConfigureAwait(false);
                }
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or WebSocketException or OperationCanceledException)
        {
            // The command or the client went away.
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Client frames: stdin data to the command, v5's close of stdin, resize (ignored: no TTY); a close ends the session.</summary>
    private async Task ReceiveAsync(Process process, CancellationTokenSource clientGone)
    {
        var buffer = new byte[32 * 1024];
        var stdin = _request.Stdin ? process.StandardInput.BaseStream : null;
        try
        {
            while (true)
            {
                var message = new MemoryStream();
                WebSocketReceiveResult result;
                do
                {
                    result = await _socket.ReceiveAsync(buffer, clientGone.Token).ConfigureAwait(false);
                    if (result.MessageType == WebSocketMessageType.Close)
                    {
                        await clientGone.CancelAsync().ConfigureAwait(false);
                        return;
                    }

                    message.Write(buffer, 0, result.Count);
                }
                while (!result.EndOfMessage);

                var frame = message.GetBuffer().AsMemory(0, (int)message.Length);
                if (frame.Length == 0)
                {
                    continue;
                }

                switch (frame.Span[0])
                {
                    case RemoteCommandProtocol.StdinChannel when stdin is not null && frame.Length > 1:
                        await stdin.WriteAsync(frame[1..], clientGone.Token).ConfigureAwait(false);
                        await stdin.FlushAsync(clientGone.Token).ConfigureAwait(false);
                        break;
                    case RemoteCommandProtocol.CloseChannel when _protocol == RemoteCommandProtocol.V5 && frame.Length > 1 && frame.Span[1] == RemoteCommandProtocol.StdinChannel && stdin is not null:
                        stdin.Close();
                        stdin = null;
                        break;
                    default:
                        break; // Resize (no TTY here) and anything unknown.
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or IOException or ObjectDisposedException)
        {
            // The client's connection broke (or the command closed its stdin): only a lost connection ends the session.
            if (_socket.State is not WebSocketState.Open and not WebSocketState.CloseSent)
            {
                await clientGone.CancelAsync().ConfigureAwait(false);
            }
        }
    }

    private async Task SendAsync(byte channel, byte[] data, CancellationToken cancellationToken)
    {
        var frame = new byte[data.Length + 1];
        frame[0] = channel;
        data.CopyTo(frame, 1);
        await SendFrameAsync(frame, cancellationToken).ConfigureAwait(false);
    }

    private async Task SendFrameAsync(ReadOnlyMemory<byte> frame, CancellationToken cancellationToken)
    {
        await _sending.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await _socket.SendAsync(frame, WebSocketMessageType.Binary, endOfMessage: true, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _sending.Release();
        }
    }

    public void Dispose() => _sending.Dispose();

    private static void Kill(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }
    }
}
