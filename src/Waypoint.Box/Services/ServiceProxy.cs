using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace Waypoint.Box.Services;

/// <summary>
/// The kube-proxy role: makes the bound VIP ports match a <see cref="ServiceProxyTable"/>. Idempotent: applying the same
/// table twice changes nothing; a route whose endpoints changed keeps its listener and sends new connections to the
/// new endpoints; a route gone closes its listener (connections already forwarded carry on). A port that cannot be
/// bound is logged and tried again on the next apply; it does not hold up the others.
/// </summary>
public sealed class ServiceProxy : IAsyncDisposable
{
    private readonly Dictionary<IPEndPoint, (ServiceRoute Route, TcpForwarder Forwarder)> _bound = [];
    private readonly List<TcpForwarder> _fixed = [];
    private readonly ConnectionTracker _connections = new();
    private readonly ServiceProxyMetrics _metrics;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _applying = new(1, 1);
    private bool _disposed;

    public ServiceProxy(ServiceProxyMetrics metrics, ILogger<ServiceProxy> logger)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        ArgumentNullException.ThrowIfNull(logger);
        _metrics = metrics;
        _logger = logger;
    }

    /// <summary>The frontends bound now.</summary>
    public IReadOnlyCollection<IPEndPoint> Bound
    {
        get
        {
            _applying.Wait();
            try
            {
                return [.. _bound.Keys];
            }
            finally
            {
                _applying.Release();
            }
        }
    }

    public async Task ApplyAsync(ServiceProxyTable table, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(table);
        await _applying.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            foreach (var (frontend, (route, forwarder)) in _bound.Where(b => !table.Routes.ContainsKey(b.Key)).ToList())
            {
                _bound.Remove(frontend);
                await forwarder.DisposeAsync().ConfigureAwait(false);
                ServiceProxyLog.Closed(_logger, route.Service, route.PortName, frontend);
            }

            foreach (var (frontend, route) in table.Routes)
            {
                if (_bound.TryGetValue(frontend, out var current))
                {
                    if (!current.Route.Backends.SequenceEqual(route.Backends))
                    {
                        current.Forwarder.Backends = route.Backends;
                        if (_logger.IsEnabled(LogLevel.Information))
                        {
                            var backends = string.Join(", ", route.Backends);
                            ServiceProxyLog.BackendsChanged(_logger, route.Service, route.PortName, backends);
                        }
                    }

                    _bound[frontend] = (route, current.Forwarder);
                    continue;
                }

                try
                {
                    _bound[frontend] = (route, TcpForwarder.Start(frontend, route.Backends, _connections, _metrics, _logger));
                    ServiceProxyLog.Listening(_logger, route.Service, route.PortName, frontend, route.Backends.Length);
                }
                catch (SocketException ex)
                {
                    ServiceProxyLog.BindFailed(_logger, route.Service, route.PortName, frontend, ex.Message);
                }
            }
        }
        finally
        {
            _applying.Release();
        }
    }

    /// <summary>
    /// A forward outside the table, for the life of the proxy: e.g. 127.0.0.1:15012 to istiod on the node IP, so host-side
    /// clients in the box keep the loopback address while pods use the Service. Throws when it cannot bind.
    /// </summary>
    public async Task AddFixedForwardAsync(IPEndPoint frontend, IPEndPoint backend, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(frontend);
        ArgumentNullException.ThrowIfNull(backend);
        await _applying.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _fixed.Add(TcpForwarder.Start(frontend, [backend], _connections, _metrics, _logger));
            ServiceProxyLog.FixedForward(_logger, frontend, backend);
        }
        finally
        {
            _applying.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _applying.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            foreach (var (_, forwarder) in _bound.Values)
            {
                await forwarder.DisposeAsync().ConfigureAwait(false);
            }

            foreach (var forwarder in _fixed)
            {
                await forwarder.DisposeAsync().ConfigureAwait(false);
            }

            _bound.Clear();
            _fixed.Clear();
            await _connections.DisposeAsync().ConfigureAwait(false);
        }
        finally
        {
            _applying.Release();
        }
    }
}
