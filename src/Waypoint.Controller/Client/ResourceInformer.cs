using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging;

namespace Waypoint.Controller.Client;

/// <summary>Non-generic view of an informer, for the controller to start and await them all.</summary>
internal interface IResourceInformer
{
    ResourceKind Kind { get; }

    /// <summary>True once the first list completed (or the resource turned out not to be served).</summary>
    bool HasSynced { get; }

    /// <summary>False while the API server answers 404 for the resource (its CRD is not installed).</summary>
    bool IsServed { get; }

    Task WaitForSyncAsync(CancellationToken cancellationToken);

    Task RunAsync(CancellationToken cancellationToken);
}

internal sealed record InformerOptions
{
    /// <summary>Restricts the informer to matching objects, e.g. only the waypoint pods.</summary>
    public string? LabelSelector { get; init; }

    /// <summary>Restricts the informer to one namespace (null: all namespaces).</summary>
    public string? Namespace { get; init; }

    /// <summary>A field selector, e.g. <c>metadata.name=istio</c> to watch one object.</summary>
    public string? FieldSelector { get; init; }

    /// <summary>Called after every full LIST (the first, then each relist), for the controller's metrics.</summary>
    public Action<ResourceKind>? Listed { get; init; }

    /// <summary>Server-side watch timeout; a random value in [Min, 2×Min) spreads reconnects, as client-go does.</summary>
    public TimeSpan MinWatchTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// A watch that delivers nothing (no event, no bookmark) for this long is presumed dead (a half-open connection, a
    /// wedged proxy) and restarted from the last resourceVersion. API servers send a bookmark about every minute.
    /// </summary>
    public TimeSpan WatchIdleTimeout { get; init; } = TimeSpan.FromMinutes(3);

    public TimeSpan InitialBackoff { get; init; } = TimeSpan.FromMilliseconds(200);

    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// An optional kind (a CRD the cluster may lack): besides 404, a 403 on the list (RBAC does not grant it) also
    /// counts as synced-empty, so it never holds up the first publish; it is looked for again every
    /// <see cref="NotServedRetry"/>.
    /// </summary>
    public bool Optional { get; init; }

    /// <summary>
    /// Objects per LIST page (client-go's pager uses 500): the first list of 10,000 Services then never holds one
    /// response of all of them in memory. 0 lists in one response.
    /// </summary>
    public int ListPageSize { get; init; } = 500;

    /// <summary>How often to look again for a resource the API server does not serve (CRD not installed).</summary>
    public TimeSpan NotServedRetry { get; init; } = TimeSpan.FromSeconds(30);
}

/// <summary>
/// List, then watch from the list's resourceVersion; bookmarks advance the resourceVersion; 410 Gone relists and
/// reconciles the cache (deletes for vanished objects); errors back off exponentially with jitter; a line that does
/// not parse is logged and skipped. Handlers run on the informer's loop and must be quick (enqueue, don't work).
/// </summary>
internal sealed class ResourceInformer<T> : IResourceInformer
    where T : class, IKubernetesObject<V1ObjectMeta>
{
    private readonly KubernetesApiClient _client;
    private readonly InformerOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _timeProvider;
    private readonly Func<JsonElement, T> _deserialize;
    private readonly ConcurrentDictionary<NamespacedName, T> _cache = new();
    private readonly TaskCompletionSource _synced = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<Action<WatchEventType, T>> _handlers = [];
    private volatile bool _isServed = true;

    public ResourceInformer(
        KubernetesApiClient client,
        ResourceKind kind,
        InformerOptions options,
        ILogger logger,
        TimeProvider timeProvider,
        Func<JsonElement, T>? deserialize = null)
    {
        _client = client;
        Kind = kind;
        _options = options;
        _logger = logger;
        _timeProvider = timeProvider;
        _deserialize = deserialize ?? (static element => KubernetesJson.Deserialize<T>(element));
    }

    public ResourceKind Kind { get; }

    public bool HasSynced => _synced.Task.IsCompleted;

    public bool IsServed => _isServed;

    /// <summary>The resourceVersion the informer is at (from the last list, event or bookmark).</summary>
    public string? ResourceVersion { get; private set; }

    public int Count => _cache.Count;

    public ICollection<T> Items => _cache.Values;

    public bool TryGet(NamespacedName key, out T value) => _cache.TryGetValue(key, out value!);

    /// <summary>Registers a handler; call before <see cref="RunAsync"/>.</summary>
    public void AddHandler(Action<WatchEventType, T> handler) => _handlers.Add(handler);

    public Task WaitForSyncAsync(CancellationToken cancellationToken) => _synced.Task.WaitAsync(cancellationToken);

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var backoff = _options.InitialBackoff;
        var needList = true;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                if (needList)
                {
                    await ListAsync(cancellationToken).ConfigureAwait(false);
                    needList = false;
                    backoff = _options.InitialBackoff;
                }

                var outcome = await WatchAsync(cancellationToken).ConfigureAwait(false);
                if (outcome == WatchOutcome.Gone)
                {
                    ControllerLog.WatchExpired(_logger, Kind.ToString(), ResourceVersion);
                    needList = true;
                }
                else if (outcome == WatchOutcome.Failed)
                {
                    await DelayAsync(Jitter(backoff), cancellationToken).ConfigureAwait(false);
                    backoff = Next(backoff);
                }
                else
                {
                    backoff = _options.InitialBackoff;
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (KubernetesApiException ex) when (needList && (ex.IsNotFound || (_options.Optional && ex.StatusCode == System.Net.HttpStatusCode.Forbidden)))
            {
                if (_isServed && ex.IsNotFound)
                {
                    ControllerLog.ResourceNotServed(_logger, Kind.ToString());
                }
                else if (_isServed)
                {
                    ControllerLog.ResourceForbidden(_logger, Kind.ToString());
                }

                _isServed = false;
                ReplaceCache([]);
                _synced.TrySetResult();
                await DelayAsync(_options.NotServedRetry, cancellationToken).ConfigureAwait(false);
            }
            catch (KubernetesApiException ex) when (ex.IsGone)
            {
                ControllerLog.WatchExpired(_logger, Kind.ToString(), ResourceVersion);
                needList = true;
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                ControllerLog.InformerError(_logger, Kind.ToString(), backoff, ex);
                await DelayAsync(Jitter(backoff), cancellationToken).ConfigureAwait(false);
                backoff = Next(backoff);
            }
        }
    }

    private async Task ListAsync(CancellationToken cancellationToken)
    {
        var items = new List<T>();
        string? listVersion;
        try
        {
            listVersion = await ListPagesAsync(items, _options.ListPageSize, cancellationToken).ConfigureAwait(false);
        }
        catch (KubernetesApiException ex) when (ex.IsGone && items.Count > 0)
        {
            // The continue token expired between pages (the list outlived etcd's compaction): as client-go's pager does,
            // list again in one response rather than page forever behind the compactor.
            items.Clear();
            listVersion = await ListPagesAsync(items, pageSize: 0, cancellationToken).ConfigureAwait(false);
        }

        _options.Listed?.Invoke(Kind);
        if (!_isServed)
        {
            ControllerLog.ResourceServed(_logger, Kind.ToString());
        }

        _isServed = true;
        ResourceVersion = listVersion;
        ReplaceCache(items);
        ControllerLog.Listed(_logger, Kind.ToString(), items.Count, ResourceVersion);
        _synced.TrySetResult();
    }

    /// <summary>Reads every page of the LIST into <paramref name="items"/>; returns the list's resourceVersion (the last page's).</summary>
    private async Task<string?> ListPagesAsync(List<T> items, int pageSize, CancellationToken cancellationToken)
    {
        string? continueToken = null;
        while (true)
        {
            var path = Kind.CollectionPath(_options.Namespace) + Query(
                ("labelSelector", _options.LabelSelector),
                ("fieldSelector", _options.FieldSelector),
                ("limit", pageSize > 0 ? pageSize.ToString(CultureInfo.InvariantCulture) : null),
                ("continue", continueToken));
            using var response = await _client.SendAsync(HttpMethod.Get, path, null, null, cancellationToken).ConfigureAwait(false);
            await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);

            // Not JsonDocument.ParseAsync: it would read the whole page (about 1 MB of JSON for 500 objects) into
            // buffers rented from the shared ArrayPool, which keeps them long after the initial sync (tens of 1 MB
            // arrays, a third of the heap at 3,000 Services). The serializer buffers one item at a time, and each item's
            // JsonElement owns an exact copy the GC reclaims.
            var page = await JsonSerializer.DeserializeAsync<ListPage>(stream, ListPage.Options, cancellationToken).ConfigureAwait(false);
            foreach (var element in page?.Items ?? [])
            {
                if (element.ValueKind == JsonValueKind.Object && TryDeserialize(element, out var item))
                {
                    items.Add(item);
                }
            }

            continueToken = page?.Metadata?.Continue;
            if (string.IsNullOrEmpty(continueToken))
            {
                return page?.Metadata?.ResourceVersion;
            }
        }
    }

    private async Task<WatchOutcome> WatchAsync(CancellationToken cancellationToken)
    {
        var timeoutSeconds = (int)(_options.MinWatchTimeout.TotalSeconds * (1 + Random.Shared.NextDouble()));
        var path = Kind.CollectionPath(_options.Namespace) + Query(
            ("watch", "true"),
            ("allowWatchBookmarks", "true"),
            ("resourceVersion", ResourceVersion),
            ("timeoutSeconds", timeoutSeconds.ToString(CultureInfo.InvariantCulture)),
            ("labelSelector", _options.LabelSelector),
            ("fieldSelector", _options.FieldSelector));
        using var idle = new CancellationTokenSource(_options.WatchIdleTimeout, _timeProvider);
        using var watching = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, idle.Token);
        try
        {
            using var response = await _client.SendAsync(HttpMethod.Get, path, null, null, watching.Token).ConfigureAwait(false);
            await using var stream = await response.Content.ReadAsStreamAsync(watching.Token).ConfigureAwait(false);
            using var reader = new StreamReader(stream);
            return await ReadEventsAsync(reader, idle, watching.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (idle.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            ControllerLog.WatchIdle(_logger, Kind.ToString(), _options.WatchIdleTimeout, ResourceVersion);
            return WatchOutcome.Ended;
        }
    }

    private async Task<WatchOutcome> ReadEventsAsync(StreamReader reader, CancellationTokenSource idle, CancellationToken cancellationToken)
    {
        while (await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
        {
            // Anything the server sends, a bookmark included, proves the watch alive.
            idle.CancelAfter(_options.WatchIdleTimeout);
            if (line.Length == 0)
            {
                continue;
            }

            var outcome = HandleLine(line);
            if (outcome is not null)
            {
                return outcome.Value;
            }
        }

        return WatchOutcome.Ended;
    }

    /// <summary>Applies one watch line; returns an outcome when the watch must end.</summary>
    private WatchOutcome? HandleLine(string line)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(line);
        }
        catch (JsonException ex)
        {
            ControllerLog.MalformedWatchEvent(_logger, Kind.ToString(), ex.Message);
            return null;
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("type", out var typeElement) || typeElement.ValueKind != JsonValueKind.String
                || !root.TryGetProperty("object", out var obj) || obj.ValueKind != JsonValueKind.Object)
            {
                ControllerLog.MalformedWatchEvent(_logger, Kind.ToString(), "an event needs a string 'type' and an object 'object'");
                return null;
            }

            var type = typeElement.GetString();
            var resourceVersion = obj.TryGetProperty("metadata", out var metadata) && metadata.ValueKind == JsonValueKind.Object
                && metadata.TryGetProperty("resourceVersion", out var rv) && rv.ValueKind == JsonValueKind.String ? rv.GetString() : null;
            switch (type)
            {
                case "BOOKMARK":
                    ResourceVersion = resourceVersion ?? ResourceVersion;
                    return null;
                case "ERROR":
                    var code = obj.TryGetProperty("code", out var c) && c.TryGetInt32(out var value) ? value : 0;
                    if (code == 410)
                    {
                        return WatchOutcome.Gone;
                    }

                    ControllerLog.WatchErrorEvent(_logger, Kind.ToString(), code, obj.TryGetProperty("message", out var m) ? m.ToString() : "");
                    return WatchOutcome.Failed;
                case "ADDED" or "MODIFIED" or "DELETED":
                    // Skip the object but not its resourceVersion: a re-watch must not deliver the same bad event forever.
                    ResourceVersion = resourceVersion ?? ResourceVersion;
                    if (!TryDeserialize(obj, out var item))
                    {
                        return null;
                    }

                    Apply(type == "DELETED" ? WatchEventType.Deleted : WatchEventType.Modified, item);
                    return null;
                default:
                    ControllerLog.MalformedWatchEvent(_logger, Kind.ToString(), $"unknown event type '{type}'");
                    return null;
            }
        }
    }

    private bool TryDeserialize(JsonElement element, out T item)
    {
        try
        {
            item = _deserialize(element);
            if (item?.Metadata?.Name is { Length: > 0 })
            {
                // managedFields are often the largest part of an object and nothing in the controller reads them; a status
                // PUT without them keeps the live object's (the API server copies them when the request has none).
                item.Metadata.ManagedFields = null;

                // Namespaces, label keys and values repeat across thousands of objects: keep one instance of each.
                item.Metadata.NamespaceProperty = StringPool.Shared.Intern(item.Metadata.NamespaceProperty);
                item.Metadata.Labels = StringPool.Shared.Intern(item.Metadata.Labels);
                item.Metadata.Annotations = StringPool.Shared.Intern(item.Metadata.Annotations);
                return true;
            }

            ControllerLog.MalformedWatchEvent(_logger, Kind.ToString(), "the object has no metadata.name");
        }
        catch (Exception ex) when (ex is JsonException or FormatException or InvalidOperationException or NotSupportedException)
        {
            ControllerLog.MalformedWatchEvent(_logger, Kind.ToString(), ex.Message);
        }

        item = null!;
        return false;
    }

    private void Apply(WatchEventType type, T item)
    {
        var key = NamespacedName.Of(item);
        if (type == WatchEventType.Deleted)
        {
            if (_cache.TryRemove(key, out _))
            {
                Notify(WatchEventType.Deleted, item);
            }

            return;
        }

        var added = true;
        _cache.AddOrUpdate(key, item, (_, _) =>
        {
            added = false;
            return item;
        });
        Notify(added ? WatchEventType.Added : WatchEventType.Modified, item);
    }

    private void ReplaceCache(List<T> items)
    {
        var seen = new HashSet<NamespacedName>();
        foreach (var item in items)
        {
            var key = NamespacedName.Of(item);
            seen.Add(key);
            if (_cache.TryGetValue(key, out var existing) && existing.Metadata.ResourceVersion == item.Metadata.ResourceVersion)
            {
                continue;
            }

            Apply(WatchEventType.Modified, item);
        }

        foreach (var (key, existing) in _cache)
        {
            if (!seen.Contains(key) && _cache.TryRemove(key, out _))
            {
                Notify(WatchEventType.Deleted, existing);
            }
        }
    }

    private void Notify(WatchEventType type, T item)
    {
        foreach (var handler in _handlers)
        {
            try
            {
                handler(type, item);
            }
            catch (Exception ex)
            {
                ControllerLog.HandlerFailed(_logger, Kind.ToString(), ex);
            }
        }
    }

    private Task DelayAsync(TimeSpan delay, CancellationToken cancellationToken) => Task.Delay(delay, _timeProvider, cancellationToken);

    private TimeSpan Next(TimeSpan backoff) => TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, _options.MaxBackoff.Ticks));

    private static TimeSpan Jitter(TimeSpan backoff) => backoff * (1 + (Random.Shared.NextDouble() * 0.5));

    private static string Query(params (string Name, string? Value)[] parameters)
    {
        var parts = parameters.Where(p => !string.IsNullOrEmpty(p.Value)).Select(p => $"{p.Name}={Uri.EscapeDataString(p.Value!)}").ToList();
        return parts.Count == 0 ? "" : "?" + string.Join('&', parts);
    }

    /// <summary>One LIST response: its items, each parsed on its own, and the list metadata.</summary>
    private sealed class ListPage
    {
        public static readonly JsonSerializerOptions Options = new();

        [JsonPropertyName("metadata")]
        public ListPageMetadata? Metadata { get; set; }

        [JsonPropertyName("items")]
        public List<JsonElement>? Items { get; set; }
    }

    private sealed class ListPageMetadata
    {
        [JsonPropertyName("continue")]
        public string? Continue { get; set; }

        [JsonPropertyName("resourceVersion")]
        public string? ResourceVersion { get; set; }
    }

    private enum WatchOutcome
    {
        Ended,
        Gone,
        Failed,
    }
}
