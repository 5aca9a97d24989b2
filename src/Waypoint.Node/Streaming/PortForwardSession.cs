using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using Microsoft.Extensions.Logging;
using Waypoint.Node.Networking;

namespace Waypoint.Node.Streaming;

/// <summary>
/// One port-forward over an accepted WebSocket: for each requested port, one TCP connection to 127.0.0.1:&lt;port&gt;
/// made inside the pod's network namespace, its bytes copied to and from the port's data channel. A connection that
/// cannot be made is reported on the port's error channel. The WebSocket is closed once every port's connection has
/// ended (the pod's side closed or failed); a client that goes away first ends them all.
/// </summary>
internal sealed class PortForwardSession : IDisposable
{
    /// <summary>How long the client may take to answer our close before the connection is dropped.</summary>
    private static readonly TimeSpan CloseLimit = TimeSpan.FromSeconds(5);

    private readonly WebSocket _socket;
    private readonly bool _base64;
    private readonly PortForwardSessionRequest _request;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _sending = new(1, 1);

    public PortForwardSession(WebSocket socket, string protocol, PortForwardSessionRequest request, ILogger logger)
    {
        _socket = socket;
        _base64 = protocol == PortForwardProtocol.V4Base64;
        _request = request;
        _logger = logger;
    }

    private string ShortId => StreamingLog.ShortId(_request.PodSandboxId);

    public async Task RunAsync(CancellationToken aborted)
    {
        using var clientGone = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        var ports = _request.Ports;
        var connections = new Task<Socket?>[ports.Count];
        try
        {
            for (var i = 0; i < ports.Count; i++)
            {
                var prefix = PortForwardProtocol.PortPrefix(ports[i]);
                await SendAsync(PortForwardProtocol.DataChannel(i), prefix, clientGone.Token).ConfigureAwait(false);
                await SendAsync(PortForwardProtocol.ErrorChannel(i), prefix, clientGone.Token).ConfigureAwait(false);
            }

            for (var i = 0; i < ports.Count; i++)
            {
                connections[i] = ConnectAsync(i, clientGone.Token);
            }

            var receiving = ReceiveAsync(connections, clientGone);
            var forwarding = Task.WhenAll(Enumerable.Range(0, ports.Count).Select(i => PumpAsync(i, connections[i], clientGone.Token)));
            await Task.WhenAny(forwarding, receiving).ConfigureAwait(false);
            if (!receiving.IsCompleted)
            {
                // Every port is done: say so by closing, as the kubelet's server does, and let the client answer.
                StreamingLog.PortForwardFinished(_logger, ShortId, ports);
                await CloseAsync(clientGone.Token).ConfigureAwait(false);
                try
                {
                    await receiving.WaitAsync(CloseLimit, clientGone.Token).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                    // The client does not answer the close; the connection goes with the session.
                }
            }
            else
            {
                StreamingLog.PortForwardAbandoned(_logger, ShortId, ports);
                if (_socket.State == WebSocketState.CloseReceived)
                {
                    await CloseAsync(aborted).ConfigureAwait(false);
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException)
        {
            // The client or the server went away.
        }
        finally
        {
            await clientGone.CancelAsync().ConfigureAwait(false);
            foreach (var connection in connections.Where(c => c is not null))
            {
                try
                {
                    (await connection.ConfigureAwait(false))?.Dispose();
                }
                catch (Exception ex) when (ex is OperationCanceledException or SocketException or IOException)
                {
                    // Never made.
                }
            }
        }
    }

    /// <summary>The connection of port <paramref name="index"/>, or null (reported on its error channel) when it cannot be made.</summary>
    private async Task<Socket?> ConnectAsync(int index, CancellationToken cancellationToken)
    {
        var port = _request.Ports[index];
        try
        {
            return await NetworkNamespaceConnector.ConnectAsync(_request.NetworkNamespacePath, new IPEndPoint(IPAddress.Loopback, port), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SocketException or IOException or UnauthorizedAccessException)
        {
            StreamingLog.PortForwardConnectFailed(_logger, ShortId, port, ex.Message);
            var message = PortForwardProtocol.ForwardingError(port, _request.PodSandboxId, $"failed to connect to 127.0.0.1:{port} inside the pod's network namespace: {ex.Message}");
            try
            {
                await SendAsync(PortForwardProtocol.ErrorChannel(index), Encoding.UTF8.GetBytes(message), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception sendFailure) when (sendFailure is WebSocketException or OperationCanceledException or IOException)
            {
                // The client is gone; nobody is left to tell.
            }

            return null;
        }
    }

    /// <summary>The pod's side of one port, copied into frames of its data channel until it closes.</summary>
    private async Task PumpAsync(int index, Task<Socket?> connecting, CancellationToken cancellationToken)
    {
        Socket? connection;
        try
        {
            connection = await connecting.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return;
        }

        if (connection is null)
        {
            return;
        }

        var channel = PortForwardProtocol.DataChannel(index);
        var buffer = ArrayPool<byte>.Shared.Rent(32 * 1024);
        try
        {
            while (true)
            {
                var read = await connection.ReceiveAsync(buffer.AsMemory(), SocketFlags.None, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    return;
                }

                await SendAsync(channel, buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or WebSocketException or OperationCanceledException or IOException)
        {
            // The pod's side or the client went away.
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Client frames: data for a port's connection (dropped once that connection has ended); a close ends the session.</summary>
    private async Task ReceiveAsync(Task<Socket?>[] connections, CancellationTokenSource clientGone)
    {
        var buffer = new byte[32 * 1024];
        try
        {
            while (true)
            {
                using var message = new MemoryStream();
                ValueWebSocketReceiveResult result;
                do
                {
                    result = await _socket.ReceiveAsync(buffer.AsMemory(), clientGone.Token).ConfigureAwait(false);
                    if (result.MessageType == WebSocketMessageType.Close)
                    {
                        return;
                    }

                    message.Write(buffer, 0, result.Count);
                }
                while (!result.EndOfMessage);

                if (!TryDecode(message.GetBuffer().AsMemory(0, (int)message.Length), out var channel, out var data)
                    || channel % 2 != 0 || channel / 2 >= connections.Length || data.Length == 0)
                {
                    continue; // Error channels are the server's; anything else is not for a port.
                }

                var connection = await connections[channel / 2].ConfigureAwait(false);
                if (connection is null)
                {
                    continue;
                }

                try
                {
                    await connection.SendAsync(data, SocketFlags.None, clientGone.Token).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
                {
                    // That port's connection has ended; the others go on.
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or IOException or ObjectDisposedException or OperationCanceledException)
        {
            // The client's connection broke, or the session is ending.
        }
    }

    private bool TryDecode(ReadOnlyMemory<byte> frame, out int channel, out ReadOnlyMemory<byte> data)
    {
        channel = -1;
        data = default;
        if (frame.Length == 0)
        {
            return false;
        }

        if (!_base64)
        {
            channel = frame.Span[0];
            data = frame[1..];
            return true;
        }

        var digit = frame.Span[0] - '0';
        if (digit < 0)
        {
            return false;
        }

        try
        {
            channel = digit;
            data = Convert.FromBase64String(Encoding.ASCII.GetString(frame.Span[1..]));
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
    }

    private async Task SendAsync(byte channel, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        byte[] frame;
        WebSocketMessageType type;
        if (_base64)
        {
            frame = Encoding.ASCII.GetBytes((char)('0' + channel) + Convert.ToBase64String(data.Span));
            type = WebSocketMessageType.Text;
        }
        else
        {
            frame = new byte[data.Length + 1];
            frame[0] = channel;
            data.CopyTo(frame.AsMemory(1));
            type = WebSocketMessageType.Binary;
        }

        await _sending.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await _socket.SendAsync(frame, type, endOfMessage: true, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _sending.Release();
        }
    }

    private async Task CloseAsync(CancellationToken cancellationToken)
    {
        try
        {
            using var closing = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            closing.CancelAfter(CloseLimit);
            await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, closing.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException)
        {
            // The client is gone.
        }
    }

    public void Dispose() => _sending.Dispose();
}
