using System.Diagnostics.Metrics;
using System.Net;
using System.Threading.Channels;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging;
using Waypoint.Box.Dns;

namespace Waypoint.Box.Services;

/// <summary>
/// What a cluster's kube-proxy and CoreDNS give pods, for the box: one watch of Services, EndpointSlices and Namespaces
/// (list + watch → cache → one coalesced, idempotent reconcile) feeds both the <see cref="ServiceProxy"/> (TCP
/// listeners on ClusterIP:port in this network namespace, where every VIP is local to <c>lo</c>) and the
/// <see cref="ClusterDnsServer"/> (UDP and TCP on <see cref="BoxServicesOptions.DnsEndPoint"/>).
/// </summary>
public sealed class BoxServices : IAsyncDisposable
{
    private readonly IKubernetes _client;
    private readonly BoxServicesOptions _options;
    private readonly ILogger _logger;
    private readonly ServiceProxy _proxy;
    private readonly ClusterDnsServer _dns;
    private readonly ResourceMirror<V1Service> _services;
    private readonly ResourceMirror<V1EndpointSlice> _slices;
    private readonly ResourceMirror<V1Namespace> _namespaces;
    private readonly Channel<bool> _changes = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _firstApply = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<Task> _loops = [];
    private int _disposed;

    private BoxServices(IKubernetes client, BoxServicesOptions options, ILoggerFactory loggerFactory, IMeterFactory meterFactory, TimeProvider time)
    {
        _client = client;
        _options = options;
        _logger = loggerFactory.CreateLogger<BoxServices>();
        _proxy = new ServiceProxy(new ServiceProxyMetrics(meterFactory), loggerFactory.CreateLogger<ServiceProxy>());
        _dns = new ClusterDnsServer(options.DnsEndPoint, loggerFactory.CreateLogger<ClusterDnsServer>());
        void Changed() => _changes.Writer.TryWrite(true);
        _services = new ResourceMirror<V1Service>(
            "Service",
            async ct => await client.CoreV1.ListServiceForAllNamespacesAsync(cancellationToken: ct).ConfigureAwait(false) is var list ? (list.Items, list.Metadata?.ResourceVersion) : default,
            (rv, ct) => client.CoreV1.WatchListServiceForAllNamespacesAsync(allowWatchBookmarks: true, resourceVersion: rv, timeoutSeconds: WatchSeconds(), cancellationToken: ct),
            Changed, _logger, time);
        _slices = new ResourceMirror<V1EndpointSlice>(
            "EndpointSlice",
            async ct => await client.DiscoveryV1.ListEndpointSliceForAllNamespacesAsync(cancellationToken: ct).ConfigureAwait(false) is var list ? (list.Items, list.Metadata?.ResourceVersion) : default,
            (rv, ct) => client.DiscoveryV1.WatchListEndpointSliceForAllNamespacesAsync(allowWatchBookmarks: true, resourceVersion: rv, timeoutSeconds: WatchSeconds(), cancellationToken: ct),
            Changed, _logger, time);
        _namespaces = new ResourceMirror<V1Namespace>(
            "Namespace",
            async ct => await client.CoreV1.ListNamespaceAsync(cancellationToken: ct).ConfigureAwait(false) is var list ? (list.Items, list.Metadata?.ResourceVersion) : default,
            (rv, ct) => client.CoreV1.WatchListNamespaceAsync(allowWatchBookmarks: true, resourceVersion: rv, timeoutSeconds: WatchSeconds(), cancellationToken: ct),
            Changed, _logger, time);
    }

    /// <summary>The kube-proxy role (what is bound now: <see cref="ServiceProxy.Bound"/>).</summary>
    public ServiceProxy Proxy => _proxy;

    /// <summary>The cluster DNS server (its current records: <see cref="ClusterDnsServer.Records"/>).</summary>
    public ClusterDnsServer Dns => _dns;

    /// <summary>Starts the DNS server and the watches, and waits until the first lists are applied.</summary>
    public static async Task<BoxServices> StartAsync(IKubernetes client, BoxServicesOptions options, ILoggerFactory loggerFactory, IMeterFactory meterFactory, TimeProvider? time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        ArgumentNullException.ThrowIfNull(meterFactory);
        var services = new BoxServices(client, options, loggerFactory, meterFactory, time ?? TimeProvider.System);
        try
        {
            services._dns.Start();
            var stop = services._stop.Token;
            services._loops.Add(services._services.RunAsync(stop));
            services._loops.Add(services._slices.RunAsync(stop));
            services._loops.Add(services._namespaces.RunAsync(stop));
            services._loops.Add(services.ReconcileAsync(stop));
            await services._firstApply.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            return services;
        }
        catch
        {
            await services.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        _changes.Writer.TryComplete();
        await Task.WhenAll(_loops).ConfigureAwait(false);
        await _proxy.DisposeAsync().ConfigureAwait(false);
        await _dns.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
    }

    private async Task ReconcileAsync(CancellationToken cancellationToken)
    {
        try
        {
            await Task.WhenAll(_services.Synced, _slices.Synced, _namespaces.Synced).WaitAsync(cancellationToken).ConfigureAwait(false);
            while (true)
            {
                try
                {
                    await ApplyAsync(cancellationToken).ConfigureAwait(false);
                    _firstApply.TrySetResult();
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    ServiceProxyLog.ReconcileFailed(_logger, ex);
                }

                await _changes.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or ChannelClosedException)
        {
            _firstApply.TrySetCanceled(cancellationToken);
        }
    }

    private async Task ApplyAsync(CancellationToken cancellationToken)
    {
        // A change arriving while this runs leaves a token in the channel: the next pass sees it.
        _changes.Reader.TryRead(out _);
        var services = _services.Items.ToList();
        var slices = _slices.Items.ToList();
        var namespaceLabels = _namespaces.Items.ToDictionary(
            n => n.Metadata.Name,
            n => (IReadOnlyDictionary<string, string>)(n.Metadata.Labels is { } labels ? new Dictionary<string, string>(labels) : []),
            StringComparer.Ordinal);
        var table = ServiceProxyTable.Build(services, slices, namespaceLabels, _options.ServedByBox);
        var records = ClusterDnsRecords.Build(services, slices, _options.ClusterDomain);
        _dns.Records = records;
        await _proxy.ApplyAsync(table, cancellationToken).ConfigureAwait(false);
        ServiceProxyLog.Applied(_logger, table.Routes.Count, records.Count);
    }

    private int WatchSeconds() => (int)(_options.WatchTimeout.TotalSeconds * (1 + Random.Shared.NextDouble()));
}

/// <summary>Where the box's Service VIPs and DNS are served.</summary>
public sealed record BoxServicesOptions
{
    /// <summary>The cluster DNS address (the kube-dns Service's ClusterIP, the kubelet's <c>clusterDNS</c>) and port.</summary>
    public required IPEndPoint DnsEndPoint { get; init; }

    public string ClusterDomain { get; init; } = "cluster.local";

    /// <summary>Services (<c>namespace/name</c>) whose VIP the box serves itself, never proxied: the DNS Service.</summary>
    public IReadOnlySet<string> ServedByBox { get; init; } = new HashSet<string>(StringComparer.Ordinal);

    /// <summary>Server-side watch timeout, randomised up to twice this (as client-go spreads reconnects).</summary>
    public TimeSpan WatchTimeout { get; init; } = TimeSpan.FromMinutes(5);
}
