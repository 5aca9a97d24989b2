using System.Buffers;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;
using Waypoint.Node.Networking;

namespace Waypoint.Node.Streaming;

/// <summary>
/// Port-forward over SPDY (<c>portforward.k8s.io</c>, what the kubelet's streaming server speaks to kubectl): the
/// client opens, per forwarded connection, an error stream and a data stream whose headers name the same
/// <c>requestID</c> and the <c>port</c>; once both are there, one TCP connection to 127.0.0.1:&lt;port&gt; is made
/// inside the pod's network namespace and copied to and from the data stream. A client FIN on the data stream
/// half-closes the pod's connection; when the pod's side closes, the data and error streams are closed (FIN). A
/// connection that cannot be made gets the kubelet's error text on its error stream. The SPDY connection lives until
/// the client closes it: kubectl opens a pair for every local connection.
/// </summary>
internal sealed class SpdyPortForwardSession
{
    public const string Protocol = "portforward.k8s.io";

    /// <summary>How long the second stream of a pair may take to arrive.</summary>
    private static readonly TimeSpan PairLimit = TimeSpan.FromSeconds(30);

    private readonly SpdyConnection _connection;
    private readonly PortForwardSessionRequest _request;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Dictionary<string, Pair> _pairs = new(StringComparer.Ordinal);
    private readonly List<Task> _forwards = [];

    public SpdyPortForwardSession(SpdyConnection connection, PortForwardSessionRequest request, TimeProvider time, ILogger logger)
    {
        _connection = connection;
        _request = request;
        _time = time;
        _logger = logger;
    }

    private string ShortId => _request.PodSandboxId[..Math.Min(12, _request.PodSandboxId.Length)];

    public async Task RunAsync(CancellationToken aborted)
    {
        using var ended = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        var reading = _connection.RunAsync(ended.Token);
        try
        {
            await foreach (var stream in _connection.IncomingStreams.ReadAllAsync(ended.Token).ConfigureAwait(false))
            {
                await AcceptAsync(stream, ended.Token).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
        {
            // The client went away.
        }
        finally
        {
            // The client closed the connection: what it forwarded ends with it.
            var open = _forwards.Count(t => !t.IsCompleted);
            await ended.CancelAsync().ConfigureAwait(false);
            await reading.ConfigureAwait(false);
            await Task.WhenAll(_forwards).ConfigureAwait(false);
            StreamingLog.SpdyPortForwardEnded(_logger, ShortId, open);
        }
    }

    private async Task AcceptAsync(SpdyStream stream, CancellationToken cancellationToken)
    {
        var type = stream.Headers.Get("streamType");
        var requestId = stream.Headers.Get("requestID");
        if (requestId.Length == 0)
        {
            // Clients older than requestID pair a data stream with the error stream opened just before it.
            requestId = (type == "data" ? stream.Id - 2 : stream.Id).ToString(CultureInfo.InvariantCulture);
        }

        if (type is not ("data" or "error"))
        {
            await stream.ResetAsync(cancellationToken).ConfigureAwait(false);
            return;
        }

        await stream.ReplyAsync(cancellationToken).ConfigureAwait(false);
        foreach (var stale in _pairs.Where(p => p.Value.Since + PairLimit < _time.GetUtcNow()).Select(p => p.Key).ToList())
        {
            await _pairs[stale].First.ResetAsync(cancellationToken).ConfigureAwait(false);
            _pairs.Remove(stale);
        }

        if (!_pairs.Remove(requestId, out var pair))
        {
            _pairs[requestId] = new Pair(stream, _time.GetUtcNow());
            return;
        }

        var (data, error) = type == "data" ? (stream, pair.First) : (pair.First, stream);
        if (data.Headers.Get("streamType") != "data" || error.Headers.Get("streamType") != "error")
        {
            await stream.ResetAsync(cancellationToken).ConfigureAwait(false);
            await pair.First.ResetAsync(cancellationToken).ConfigureAwait(false);
            return;
        }

        _forwards.RemoveAll(t => t.IsCompleted);
        _forwards.Add(ForwardAsync(data, error, cancellationToken));
    }

    private async Task ForwardAsync(SpdyStream data, SpdyStream error, CancellationToken cancellationToken)
    {
        try
        {
            var portText = data.Headers.Get("port");
            if (!ushort.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port == 0)
            {
                await error.WriteAsync(Encoding.UTF8.GetBytes($"invalid port header \"{portText}\""), cancellationToken).ConfigureAwait(false);
                return;
            }

            Socket connection;
            try
            {
                connection = await NetworkNamespaceConnector.ConnectAsync(_request.NetworkNamespacePath, new IPEndPoint(IPAddress.Loopback, port), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SocketException or IOException or UnauthorizedAccessException)
            {
                StreamingLog.PortForwardConnectFailed(_logger, ShortId, port, ex.Message);
                var message = PortForwardProtocol.ForwardingError(port, _request.PodSandboxId, $"failed to connect to 127.0.0.1:{port} inside the pod's network namespace: {ex.Message}");
                await error.WriteAsync(Encoding.UTF8.GetBytes(message), cancellationToken).ConfigureAwait(false);
                return;
            }

            using (connection)
            using (var podDone = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                StreamingLog.SpdyPortForwardConnected(_logger, ShortId, port);
                var toPod = CopyToPodAsync(data, connection, podDone.Token);
                await CopyFromPodAsync(connection, data, cancellationToken).ConfigureAwait(false);

                // The pod's side is done: what the client still sends has nowhere to go (the streams close below).
                await podDone.CancelAsync().ConfigureAwait(false);
                await toPod.ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
        {
            // The client reset the streams or went away.
        }
        finally
        {
            await CloseAsync(data, cancellationToken).ConfigureAwait(false);
            await CloseAsync(error, cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task CopyToPodAsync(SpdyStream data, Socket connection, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(32 * 1024);
        try
        {
            while (true)
            {
                var read = await data.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    if (!data.WasReset)
                    {
                        connection.Shutdown(SocketShutdown.Send); // The client's FIN: the pod reads its end.
                    }

                    return;
                }

                await connection.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // The pod's side or the client went away.
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static async Task CopyFromPodAsync(Socket connection, SpdyStream data, CancellationToken cancellationToken)
    {
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

                await data.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or IOException or OperationCanceledException)
        {
            // The pod's side or the client went away.
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static async Task CloseAsync(SpdyStream stream, CancellationToken cancellationToken)
    {
        try
        {
            await stream.CloseWriteAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
        {
            // The connection is gone.
        }

        stream.Release();
    }

    private sealed record Pair(SpdyStream First, DateTimeOffset Since);
}
