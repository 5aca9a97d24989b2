using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Waypoint.Box.Network;

namespace Waypoint.EndToEnd.Tests.Mesh;

/// <summary>
/// An HTTP ext_authz server run by the test inside the box's network namespace, on the node IP (10.244.0.2, which
/// every pod reaches through its veth, as it reaches the API server there): nothing is added to any namespace, and the
/// waypoint pod's Envoy reaches it as an <c>envoyExtAuthzHttp</c> provider whose <c>service</c> is that IP.
/// A minimal HTTP/1.1 server (keep-alive, bodies skipped), enough for Envoy's check requests: a check whose
/// <c>x-ext-authz</c> header is <c>allow</c> is answered 200 with <c>x-ext-authz-user</c>; any other is denied with
/// <see cref="DeniedStatus"/>, <c>x-ext-authz-reason</c> and <see cref="DeniedBody"/>.
/// </summary>
internal sealed class BoxExtAuthzServer : IAsyncDisposable
{
    public const int DeniedStatus = 401;
    public const string DeniedBody = "denied by the box's ext_authz";
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentQueue<BoxExtAuthzCheck> _checks = new();
    private readonly ConcurrentDictionary<Socket, byte> _connections = new();
    private readonly Task _accepting;

    private BoxExtAuthzServer(Socket listener)
    {
        _listener = listener;
        EndPoint = (IPEndPoint)listener.LocalEndPoint!;
        _accepting = AcceptAsync();
    }

    public IPEndPoint EndPoint { get; }

    public IReadOnlyList<BoxExtAuthzCheck> Checks => [.. _checks];

    /// <summary>Listens on the node IP, on a free port, inside <paramref name="box"/>.</summary>
    public static BoxExtAuthzServer Start(BoxNetworkNamespace box) => new(box.CreateListenSocket(new IPEndPoint(BoxNetwork.NodeIp, 0)));

    /// <summary>Stops listening and closes every connection: the server is down (connections to it are refused).</summary>
    public async Task StopAsync()
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }

        await _stop.CancelAsync();
        _listener.Dispose();
        foreach (var connection in _connections.Keys)
        {
            connection.Dispose();
        }

        try
        {
            await _accepting;
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var connection = await _listener.AcceptAsync(_stop.Token);
            _connections[connection] = 0;
            _ = ServeAsync(connection);
        }
    }

    private async Task ServeAsync(Socket connection)
    {
        try
        {
            await using var stream = new NetworkStream(connection, ownsSocket: true);
            var buffer = new List<byte>();
            var chunk = new byte[4096];
            while (!_stop.IsCancellationRequested)
            {
                var end = HeaderEnd(buffer);
                if (end < 0)
                {
                    var read = await stream.ReadAsync(chunk, _stop.Token);
                    if (read == 0)
                    {
                        return;
                    }

                    buffer.AddRange(chunk.AsSpan(0, read));
                    continue;
                }

                var head = Encoding.ASCII.GetString([.. buffer.Take(end)]).Split("\r\n");
                var requestLine = head[0].Split(' ');
                var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
                foreach (var line in head.Skip(1))
                {
                    var colon = line.IndexOf(':', StringComparison.Ordinal);
                    if (colon > 0)
                    {
                        headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
                    }
                }

                // Skip the body, if any (Envoy sends none unless the body is included in the check).
                var length = headers.TryGetValue("content-length", out var text) && int.TryParse(text, out var n) ? n : 0;
                while (buffer.Count < end + 4 + length)
                {
                    var read = await stream.ReadAsync(chunk, _stop.Token);
                    if (read == 0)
                    {
                        return;
                    }

                    buffer.AddRange(chunk.AsSpan(0, read));
                }

                buffer.RemoveRange(0, end + 4 + length);
                var check = new BoxExtAuthzCheck(requestLine[0], requestLine.Length > 1 ? requestLine[1] : "", headers);
                _checks.Enqueue(check);
                await stream.WriteAsync(Encoding.ASCII.GetBytes(Answer(check)), _stop.Token);
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
        finally
        {
            _connections.TryRemove(connection, out _);
        }
    }

    private static string Answer(BoxExtAuthzCheck check)
    {
        if (check.Headers.TryGetValue("x-ext-authz", out var verdict) && verdict == "allow")
        {
            return "HTTP/1.1 200 OK\r\nx-ext-authz-user: box-ext-authz-approved\r\nx-not-forwarded: dropped\r\ncontent-length: 0\r\n\r\n";
        }

        return $"HTTP/1.1 {DeniedStatus} Unauthorized\r\nx-ext-authz-reason: verdict-{(verdict ?? "missing")}\r\nx-not-forwarded: dropped\r\n"
            + $"content-type: text/plain\r\ncontent-length: {DeniedBody.Length}\r\n\r\n{DeniedBody}";
    }

    private static int HeaderEnd(List<byte> buffer)
    {
        for (var i = 0; i + 3 < buffer.Count; i++)
        {
            if (buffer[i] == '\r' && buffer[i + 1] == '\n' && buffer[i + 2] == '\r' && buffer[i + 3] == '\n')
            {
                return i;
            }
        }

        return -1;
    }
}

/// <summary>One check request as the server received it.</summary>
internal sealed record BoxExtAuthzCheck(string Method, string Path, IReadOnlyDictionary<string, string> Headers);
