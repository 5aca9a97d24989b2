using System.Diagnostics.Metrics;

namespace Waypoint.Box.Services;

/// <summary>The kube-proxy role's instruments (meter <c>Waypoint.Box.Services</c>).</summary>
public sealed class ServiceProxyMetrics
{
    public const string MeterName = "Waypoint.Box.Services";

    private readonly Counter<long> _connections;
    private readonly UpDownCounter<long> _active;
    private readonly UpDownCounter<long> _listeners;

    public ServiceProxyMetrics(IMeterFactory meterFactory)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        var meter = meterFactory.Create(MeterName);
        _connections = meter.CreateCounter<long>("waypoint.box.service_proxy.connections", "{connection}",
            "Connections accepted on a Service VIP, by outcome: forwarded, or backend_unreachable (no endpoint accepted it).");
        _active = meter.CreateUpDownCounter<long>("waypoint.box.service_proxy.active_connections", "{connection}", "Connections being forwarded.");
        _listeners = meter.CreateUpDownCounter<long>("waypoint.box.service_proxy.listeners", "{listener}", "VIP ports bound.");
    }

    public void Forwarded() => _connections.Add(1, new KeyValuePair<string, object?>("outcome", "forwarded"));

    public void BackendUnreachable() => _connections.Add(1, new KeyValuePair<string, object?>("outcome", "backend_unreachable"));

    public void ConnectionOpened() => _active.Add(1);

    public void ConnectionClosed() => _active.Add(-1);

    public void ListenerOpened() => _listeners.Add(1);

    public void ListenerClosed() => _listeners.Add(-1);
}
