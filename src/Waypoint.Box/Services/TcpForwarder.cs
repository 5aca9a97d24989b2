using System.Buffers;
using System.Collections.Immutable;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace Waypoint.Box.Services;

/// <summary>
/// One listening socket (in this process's network namespace) whose connections are forwarded, round robin, to the
/// current <see cref="Backends"/>: a backend that refuses is skipped for the next; when none accepts, the client is
/// reset. Bytes flow both ways until each side ends its half (half-close is passed on with <c>shutdown(SHUT_WR)</c>);
/// an error on either side resets both. Disposing closes the listener only: the connections belong to the
/// <see cref="ConnectionTracker"/>, which ends them when the proxy stops.
/// </summary>
internal sealed class TcpForwarder : IAsyncDisposable
{
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(5);
    private readonly Socket _listener;
    private readonly ConnectionTracker _connections;
    private readonly ServiceProxyMetrics _metrics;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private ImmutableArray<IPEndPoint> _backends;
    private Task _acceptLoop = Task.CompletedTask;
    private int _next = -1;

    private TcpForwarder(Socket listener, IPEndPoint frontend, ImmutableArray<IPEndPoint> backends, ConnectionTracker connections, ServiceProxyMetrics metrics, ILogger logger)
    {
        _listener = listener;
        Frontend = frontend;
        _backends = backends;
        _connections = connections;
        _metrics = metrics;
        _logger = logger;
    }

    public IPEndPoint Frontend { get; }

    /// <summary>Where new connections go; existing ones keep their backend.</summary>
    public ImmutableArray<IPEndPoint> Backends
    {
        get => _backends; // one array reference: reads are atomic
        set => ImmutableInterlocked.InterlockedExchange(ref _backends, value);
    }

    /// <summary>Binds <paramref name="frontend"/> and starts accepting; throws <see cref="SocketException"/> when it cannot bind.</summary>
    public static TcpForwarder Start(IPEndPoint frontend, ImmutableArray<IPEndPoint> backends, ConnectionTracker connections, ServiceProxyMetrics metrics, ILogger logger)
    {
        var listener = new Socket(frontend.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            // A VIP port closed and opened again must bind even while old connections linger in TIME_WAIT.
            listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            listener.Bind(frontend);
            listener.Listen(512);
        }
        catch
        {
            listener.Dispose();
            throw;
        }

        var forwarder = new TcpForwarder(listener, frontend, backends, connections, metrics, logger);
        metrics.ListenerOpened();
        forwarder._acceptLoop = forwarder.AcceptAsync();
        return forwarder;
    }

    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        await _acceptLoop.ConfigureAwait(false);
        _metrics.ListenerClosed();
        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException || _stop.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException ex)
            {
                ServiceProxyLog.AcceptFailed(_logger, Frontend, ex);
                return;
            }

            _connections.Run(token => ForwardAsync(client, token));
        }
    }

    private async Task ForwardAsync(Socket client, CancellationToken cancellationToken)
    {
        using (client)
        {
            client.NoDelay = true;
            using var backend = await ConnectAsync(cancellationToken).ConfigureAwait(false);
            if (backend is null)
            {
                _metrics.BackendUnreachable();
                Reset(client);
                return;
            }

            _metrics.Forwarded();
            _metrics.ConnectionOpened();
            try
            {
                var up = PumpAsync(client, backend, cancellationToken);
                var down = PumpAsync(backend, client, cancellationToken);
                var first = await Task.WhenAny(up, down).ConfigureAwait(false);
                if (!first.IsCompletedSuccessfully)
                {
                    // One side failed (reset, or the proxy stops): reset the other too rather than leave it waiting.
                    Reset(client);
                    Reset(backend);
                }

                try
                {
                    await Task.WhenAll(up, down).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
                {
                    Reset(client);
                    Reset(backend);
                }
            }
            finally
            {
                _metrics.ConnectionClosed();
            }
        }
    }

    private async Task<Socket?> ConnectAsync(CancellationToken cancellationToken)
    {
        var backends = Backends;
        var start = Interlocked.Increment(ref _next);
        for (var attempt = 0; attempt < backends.Length; attempt++)
        {
            var target = backends[(int)((uint)(start + attempt) % (uint)backends.Length)];
            var socket = new Socket(target.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            limit.CancelAfter(ConnectTimeout);
            try
            {
                await socket.ConnectAsync(target, limit.Token).ConfigureAwait(false);
                return socket;
            }
            catch (Exception ex) when (ex is SocketException || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                socket.Dispose();
            }
        }

        ServiceProxyLog.BackendUnreachable(_logger, Frontend, backends);
        return null;
    }

    private static async Task PumpAsync(Socket from, Socket to, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(32 * 1024);
        try
        {
            while (true)
            {
                var read = await from.ReceiveAsync(buffer, SocketFlags.None, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    // The sender finished its half: finish ours towards the other side, keep reading theirs.
                    to.Shutdown(SocketShutdown.Send);
                    return;
                }

                var sent = 0;
                while (sent < read)
                {
                    sent += await to.SendAsync(buffer.AsMemory(sent, read - sent), SocketFlags.None, cancellationToken).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Closes with RST (linger 0), so the peer sees the failure instead of a clean end of stream.</summary>
    private static void Reset(Socket socket)
    {
        try
        {
            socket.LingerState = new LingerOption(true, 0);
            socket.Close();
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Already gone.
        }
    }
}

/// <summary>The forwarded connections of a proxy: each runs on its own; disposing cancels them all and waits.</summary>
internal sealed class ConnectionTracker : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Dictionary<int, Task> _running = [];
    private readonly Lock _lock = new();
    private int _nextId;

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _running.Count;
            }
        }
    }

    public void Run(Func<CancellationToken, Task> connection)
    {
        var id = Interlocked.Increment(ref _nextId);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var task = Task.Run(async () =>
        {
            await started.Task.ConfigureAwait(false);
            try
            {
                await connection(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
            {
                // The connection ended badly; it has been reset.
            }
            finally
            {
                lock (_lock)
                {
                    _running.Remove(id);
                }
            }
        });
        lock (_lock)
        {
            _running[id] = task;
        }

        started.SetResult();
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        Task[] running;
        lock (_lock)
        {
            running = [.. _running.Values];
        }

        await Task.WhenAll(running).ConfigureAwait(false);
        _stop.Dispose();
    }
}
