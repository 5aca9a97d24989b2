using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;

namespace Waypoint.TestKit.Kubernetes;

/// <summary>
/// The storage behind <see cref="FakeKubernetesApiServer"/>: one global resourceVersion counter (like etcd's revision),
/// per-resource event history for watches, compaction (old resourceVersions answer 410 Gone), optimistic concurrency,
/// the status subresource and background ownerReference garbage collection. All methods are thread-safe.
/// </summary>
public sealed class FakeResourceStore
{
    private readonly Lock _lock = new();
    private readonly Dictionary<(string Group, string Plural), Table> _tables = new();
    private readonly TimeProvider _timeProvider;
    private long _revision = 1000;
    private long _uid;
    private long _allocatedIps;

    public FakeResourceStore(IEnumerable<FakeResourceType> types, TimeProvider? timeProvider = null)
    {
        _timeProvider = timeProvider ?? TimeProvider.System;
        foreach (var type in types)
        {
            AddType(type);
        }
    }

    /// <summary>Events kept per resource for watches; older ones are compacted away (a watch from before answers 410).</summary>
    public int MaxHistoryPerResource { get; set; } = 100_000;

    public long CurrentRevision
    {
        get
        {
            lock (_lock)
            {
                return _revision;
            }
        }
    }

    /// <summary>Serves a new resource type from now on, like installing a CRD.</summary>
    public void AddType(FakeResourceType type)
    {
        lock (_lock)
        {
            _tables.TryAdd((type.Group, type.Plural), new Table(type));
        }
    }

    /// <summary>Stops serving a resource type (404 from now on; its watches end), like deleting a CRD.</summary>
    public void RemoveType(FakeResourceType type)
    {
        lock (_lock)
        {
            if (_tables.Remove((type.Group, type.Plural), out var table))
            {
                foreach (var watch in table.Watches)
                {
                    watch.Channel.Writer.TryComplete();
                }
            }
        }
    }

    public FakeResourceType? FindType(string group, string version, string plural)
    {
        lock (_lock)
        {
            return _tables.TryGetValue((group, plural), out var table) && table.Type.Version == version ? table.Type : null;
        }
    }

    public FakeApiResult List(FakeResourceType type, string? ns, string? labelSelector)
    {
        var selector = LabelSelector.Parse(labelSelector);
        lock (_lock)
        {
            var table = GetTable(type);
            var items = new JsonArray();
            foreach (var ((objectNamespace, _), obj) in table.Objects.OrderBy(p => p.Key.Namespace, StringComparer.Ordinal).ThenBy(p => p.Key.Name, StringComparer.Ordinal))
            {
                if ((ns is null || objectNamespace == ns) && selector.Matches(obj))
                {
                    items.Add(obj.DeepClone());
                }
            }

            return FakeApiResult.Ok(new JsonObject
            {
                ["kind"] = type.ListKind,
                ["apiVersion"] = type.ApiVersion,
                ["metadata"] = new JsonObject { ["resourceVersion"] = Rv(_revision) },
                ["items"] = items,
            });
        }
    }

    public FakeApiResult Get(FakeResourceType type, string ns, string name)
    {
        lock (_lock)
        {
            var table = GetTable(type);
            return table.Objects.TryGetValue((ns, name), out var obj)
                ? FakeApiResult.Ok(obj.DeepClone())
                : NotFound(type, name);
        }
    }

    public FakeApiResult Create(FakeResourceType type, string ns, JsonObject body)
    {
        var name = body["metadata"]?["name"]?.GetValue<string>();
        if (string.IsNullOrEmpty(name))
        {
            return FakeApiResult.Status(422, "Invalid", "metadata.name: Required value");
        }

        lock (_lock)
        {
            var table = GetTable(type);
            if (table.Objects.ContainsKey((ns, name)))
            {
                return FakeApiResult.Status(409, "AlreadyExists", $"{type.Plural}.{type.Group} \"{name}\" already exists");
            }

            var obj = (JsonObject)body.DeepClone();
            obj["kind"] = type.Kind;
            obj["apiVersion"] = type.ApiVersion;
            var metadata = Metadata(obj);
            if (type.Namespaced)
            {
                metadata["namespace"] = ns;
            }
            else
            {
                metadata.Remove("namespace");
            }

            metadata["uid"] = $"00000000-0000-4000-8000-{Interlocked.Increment(ref _uid):D12}";
            metadata["creationTimestamp"] = _timeProvider.GetUtcNow().UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
            metadata["generation"] = 1L;
            if (type.HasStatusSubresource)
            {
                obj.Remove("status");
            }

            AllocateClusterIp(type, obj);
            Commit(table, ns, name, obj, "ADDED");
            return FakeApiResult.Created(obj.DeepClone());
        }
    }

    /// <summary>PUT of the object or, with <paramref name="status"/>, of its status subresource only.</summary>
    public FakeApiResult Replace(FakeResourceType type, string ns, string name, JsonObject body, bool status)
    {
        lock (_lock)
        {
            var table = GetTable(type);
            if (!table.Objects.TryGetValue((ns, name), out var current))
            {
                return NotFound(type, name);
            }

            var precondition = body["metadata"]?["resourceVersion"]?.GetValue<string>();
            if (!string.IsNullOrEmpty(precondition) && precondition != Metadata(current)["resourceVersion"]!.GetValue<string>())
            {
                return Conflict(type, name);
            }

            return Update(table, ns, name, current, (JsonObject)body.DeepClone(), status);
        }
    }

    /// <summary>JSON merge patch (RFC 7386); strategic merge patches are applied as merge patches.</summary>
    public FakeApiResult Patch(FakeResourceType type, string ns, string name, JsonNode patch, bool status)
    {
        lock (_lock)
        {
            var table = GetTable(type);
            if (!table.Objects.TryGetValue((ns, name), out var current))
            {
                return NotFound(type, name);
            }

            var precondition = patch["metadata"]?["resourceVersion"]?.GetValue<string>();
            if (!string.IsNullOrEmpty(precondition) && precondition != Metadata(current)["resourceVersion"]!.GetValue<string>())
            {
                return Conflict(type, name);
            }

            if (JsonMergePatch.Apply(current.DeepClone(), patch) is not JsonObject patched)
            {
                return FakeApiResult.Status(422, "Invalid", "a patch must produce an object");
            }

            return Update(table, ns, name, current, patched, status);
        }
    }

    public FakeApiResult Delete(FakeResourceType type, string ns, string name)
    {
        lock (_lock)
        {
            var table = GetTable(type);
            if (!table.Objects.TryGetValue((ns, name), out var current))
            {
                return NotFound(type, name);
            }

            DeleteLocked(table, ns, name, current);
            CollectGarbageLocked();
            return FakeApiResult.Ok(new JsonObject
            {
                ["kind"] = "Status",
                ["apiVersion"] = "v1",
                ["metadata"] = new JsonObject(),
                ["status"] = "Success",
                ["details"] = new JsonObject { ["name"] = name, ["kind"] = type.Plural, ["uid"] = Metadata(current)["uid"]?.DeepClone() },
            });
        }
    }

    /// <summary>
    /// Opens a watch. From <paramref name="resourceVersion"/> empty or "0" it starts with ADDED events for every current
    /// object; from a resourceVersion older than the compacted history it answers with one ERROR event (410 Expired).
    /// </summary>
    public FakeWatch Watch(FakeResourceType type, string? ns, string? resourceVersion, string? labelSelector, bool allowBookmarks)
    {
        var selector = LabelSelector.Parse(labelSelector);
        var channel = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true });
        lock (_lock)
        {
            var table = GetTable(type);
            var watch = new FakeWatch(type, ns, selector, allowBookmarks, channel, this);
            if (string.IsNullOrEmpty(resourceVersion) || resourceVersion == "0")
            {
                foreach (var ((objectNamespace, _), obj) in table.Objects)
                {
                    if ((ns is null || objectNamespace == ns) && selector.Matches(obj))
                    {
                        channel.Writer.TryWrite(EventLine("ADDED", obj));
                    }
                }
            }
            else
            {
                if (!long.TryParse(resourceVersion, NumberStyles.None, CultureInfo.InvariantCulture, out var from))
                {
                    channel.Writer.TryWrite(ErrorLine(400, "BadRequest", $"invalid resource version \"{resourceVersion}\""));
                    channel.Writer.TryComplete();
                    return watch;
                }

                if (from < table.CompactedRevision)
                {
                    channel.Writer.TryWrite(ErrorLine(410, "Expired", $"too old resource version: {from} ({table.CompactedRevision})"));
                    channel.Writer.TryComplete();
                    return watch;
                }

                foreach (var stored in table.History)
                {
                    if (stored.Revision > from)
                    {
                        watch.Offer(stored);
                    }
                }
            }

            table.Watches.Add(watch);
            return watch;
        }
    }

    /// <summary>Sends a BOOKMARK at the current resourceVersion to every watch that asked for bookmarks.</summary>
    public void SendBookmarks()
    {
        lock (_lock)
        {
            foreach (var table in _tables.Values)
            {
                foreach (var watch in table.Watches.Where(w => w.AllowBookmarks))
                {
                    watch.Channel.Writer.TryWrite(JsonSerializer.Serialize(new JsonObject
                    {
                        ["type"] = "BOOKMARK",
                        ["object"] = new JsonObject
                        {
                            ["kind"] = table.Type.Kind,
                            ["apiVersion"] = table.Type.ApiVersion,
                            ["metadata"] = new JsonObject { ["resourceVersion"] = Rv(_revision) },
                        },
                    }));
                }
            }
        }
    }

    /// <summary>Ends every open watch, as an API server restart or a dropped connection does.</summary>
    public void DropWatches()
    {
        lock (_lock)
        {
            foreach (var table in _tables.Values)
            {
                foreach (var watch in table.Watches)
                {
                    watch.Channel.Writer.TryComplete();
                }

                table.Watches.Clear();
            }
        }
    }

    /// <summary>Forgets all history: watches from any resourceVersion before now answer 410 Gone. With <paramref name="expireOpenWatches"/> open watches get an ERROR 410 event and end.</summary>
    public void Compact(bool expireOpenWatches)
    {
        lock (_lock)
        {
            foreach (var table in _tables.Values)
            {
                table.CompactedRevision = _revision;
                table.History.Clear();
                if (expireOpenWatches)
                {
                    foreach (var watch in table.Watches)
                    {
                        watch.Channel.Writer.TryWrite(ErrorLine(410, "Expired", "too old resource version"));
                        watch.Channel.Writer.TryComplete();
                    }

                    table.Watches.Clear();
                }
            }
        }
    }

    /// <summary>Writes a raw line (malformed JSON, an object of the wrong shape...) to every open watch of <paramref name="type"/>.</summary>
    public int InjectRawWatchLine(FakeResourceType type, string line)
    {
        lock (_lock)
        {
            var table = GetTable(type);
            foreach (var watch in table.Watches)
            {
                watch.Channel.Writer.TryWrite(line);
            }

            return table.Watches.Count;
        }
    }

    public int OpenWatchCount(FakeResourceType type)
    {
        lock (_lock)
        {
            return _tables.TryGetValue((type.Group, type.Plural), out var table) ? table.Watches.Count : 0;
        }
    }

    /// <summary>A copy of every object of <paramref name="type"/>, for assertions.</summary>
    public IReadOnlyList<JsonObject> Snapshot(FakeResourceType type)
    {
        lock (_lock)
        {
            return GetTable(type).Objects.Values.Select(o => (JsonObject)o.DeepClone()).ToList();
        }
    }

    internal void Unsubscribe(FakeWatch watch)
    {
        lock (_lock)
        {
            if (_tables.TryGetValue((watch.Type.Group, watch.Type.Plural), out var table))
            {
                table.Watches.Remove(watch);
            }
        }
    }

    private FakeApiResult Update(Table table, string ns, string name, JsonObject current, JsonObject proposed, bool status)
    {
        var type = table.Type;
        JsonObject next;
        if (status)
        {
            next = (JsonObject)current.DeepClone();
            var newStatus = proposed["status"];
            next.Remove("status");
            if (newStatus is not null)
            {
                next["status"] = newStatus.DeepClone();
            }
        }
        else
        {
            next = proposed;
            next["kind"] = type.Kind;
            next["apiVersion"] = type.ApiVersion;
            if (type.HasStatusSubresource)
            {
                next.Remove("status");
                if (current["status"] is { } currentStatus)
                {
                    next["status"] = currentStatus.DeepClone();
                }
            }

            var metadata = Metadata(next);
            var currentMetadata = Metadata(current);
            metadata["name"] = name;
            if (type.Namespaced)
            {
                metadata["namespace"] = ns;
            }

            foreach (var immutable in new[] { "uid", "creationTimestamp", "generation" })
            {
                metadata[immutable] = currentMetadata[immutable]?.DeepClone();
            }

            if (!JsonNode.DeepEquals(WithoutMetadataAndStatus(current), WithoutMetadataAndStatus(next)))
            {
                metadata["generation"] = (currentMetadata["generation"] is { } generation ? long.Parse(generation.ToJsonString(), CultureInfo.InvariantCulture) : 1L) + 1;
            }
        }

        Metadata(next)["resourceVersion"] = Metadata(current)["resourceVersion"]?.DeepClone();
        if (JsonNode.DeepEquals(current, next))
        {
            // The real API server turns a no-op update into a read: no new resourceVersion, no watch event.
            return FakeApiResult.Ok(current.DeepClone());
        }

        Commit(table, ns, name, next, "MODIFIED");
        return FakeApiResult.Ok(next.DeepClone());
    }

    private void Commit(Table table, string ns, string name, JsonObject obj, string eventType)
    {
        _revision++;
        Metadata(obj)["resourceVersion"] = Rv(_revision);
        table.Objects[(ns, name)] = obj;
        Record(table, new StoredEvent(_revision, eventType, ns, EventLine(eventType, obj), (JsonObject)obj.DeepClone()));
    }

    private void DeleteLocked(Table table, string ns, string name, JsonObject current)
    {
        table.Objects.Remove((ns, name));
        _revision++;
        var tombstone = (JsonObject)current.DeepClone();
        Metadata(tombstone)["resourceVersion"] = Rv(_revision);
        Record(table, new StoredEvent(_revision, "DELETED", ns, EventLine("DELETED", tombstone), tombstone));
    }

    private void Record(Table table, StoredEvent stored)
    {
        table.History.Add(stored);
        if (table.History.Count > MaxHistoryPerResource)
        {
            var drop = table.History.Count - MaxHistoryPerResource;
            table.CompactedRevision = table.History[drop - 1].Revision;
            table.History.RemoveRange(0, drop);
        }

        foreach (var watch in table.Watches)
        {
            watch.Offer(stored);
        }
    }

    /// <summary>Background cascading deletion: an object whose every owner is gone is deleted, repeatedly.</summary>
    private void CollectGarbageLocked()
    {
        bool deleted;
        do
        {
            deleted = false;
            var live = new HashSet<string>(StringComparer.Ordinal);
            foreach (var table in _tables.Values)
            {
                foreach (var obj in table.Objects.Values)
                {
                    if (Metadata(obj)["uid"]?.GetValue<string>() is { } uid)
                    {
                        live.Add(uid);
                    }
                }
            }

            foreach (var table in _tables.Values)
            {
                foreach (var ((ns, name), obj) in table.Objects.ToList())
                {
                    if (Metadata(obj)["ownerReferences"] is JsonArray { Count: > 0 } owners
                        && owners.All(o => o?["uid"]?.GetValue<string>() is not { } uid || !live.Contains(uid)))
                    {
                        DeleteLocked(table, ns, name, obj);
                        deleted = true;
                    }
                }
            }
        }
        while (deleted);
    }

    private Table GetTable(FakeResourceType type) =>
        _tables.TryGetValue((type.Group, type.Plural), out var table)
            ? table
            : throw new InvalidOperationException($"resource {type.Plural}.{type.Group} is not served");

    /// <summary>Services get a ClusterIP from 10.96.0.0/12 unless headless, as the real allocator does.</summary>
    private void AllocateClusterIp(FakeResourceType type, JsonObject obj)
    {
        if (type.Group.Length != 0 || type.Plural != "services" || obj["spec"] is not JsonObject spec)
        {
            return;
        }

        if (spec["clusterIP"] is null && spec["type"]?.GetValue<string>() is null or "ClusterIP" or "NodePort" or "LoadBalancer")
        {
            var n = ++_allocatedIps;
            spec["clusterIP"] = $"10.96.{(n / 250) % 250}.{(n % 250) + 1}";
        }
    }

    private static JsonObject Metadata(JsonObject obj)
    {
        if (obj["metadata"] is JsonObject metadata)
        {
            return metadata;
        }

        metadata = new JsonObject();
        obj["metadata"] = metadata;
        return metadata;
    }

    private static JsonObject WithoutMetadataAndStatus(JsonObject obj)
    {
        var copy = (JsonObject)obj.DeepClone();
        copy.Remove("metadata");
        copy.Remove("status");
        return copy;
    }

    private static string Rv(long revision) => revision.ToString(CultureInfo.InvariantCulture);

    private static string EventLine(string type, JsonObject obj) =>
        JsonSerializer.Serialize(new JsonObject { ["type"] = type, ["object"] = obj.DeepClone() });

    private static string ErrorLine(int code, string reason, string message) =>
        JsonSerializer.Serialize(new JsonObject { ["type"] = "ERROR", ["object"] = FakeApiResult.StatusBody(code, reason, message) });

    private static FakeApiResult NotFound(FakeResourceType type, string name) =>
        FakeApiResult.Status(404, "NotFound", $"{type.Plural}.{type.Group} \"{name}\" not found");

    private static FakeApiResult Conflict(FakeResourceType type, string name) =>
        FakeApiResult.Status(409, "Conflict", $"Operation cannot be fulfilled on {type.Plural}.{type.Group} \"{name}\": the object has been modified; please apply your changes to the latest version and try again");

    private sealed class Table(FakeResourceType type)
    {
        public FakeResourceType Type { get; } = type;

        public Dictionary<(string Namespace, string Name), JsonObject> Objects { get; } = new();

        public List<StoredEvent> History { get; } = new();

        public long CompactedRevision { get; set; }

        public List<FakeWatch> Watches { get; } = new();
    }
}

internal sealed record StoredEvent(long Revision, string Type, string Namespace, string Line, JsonObject Object);

/// <summary>One open watch: the lines to stream, in resourceVersion order.</summary>
public sealed class FakeWatch
{
    private readonly FakeResourceStore _store;

    internal FakeWatch(FakeResourceType type, string? ns, LabelSelector selector, bool allowBookmarks, Channel<string> channel, FakeResourceStore store)
    {
        Type = type;
        Namespace = ns;
        Selector = selector;
        AllowBookmarks = allowBookmarks;
        Channel = channel;
        _store = store;
    }

    public FakeResourceType Type { get; }

    public string? Namespace { get; }

    public bool AllowBookmarks { get; }

    internal LabelSelector Selector { get; }

    internal Channel<string> Channel { get; }

    public ChannelReader<string> Lines => Channel.Reader;

    public void Close()
    {
        Channel.Writer.TryComplete();
        _store.Unsubscribe(this);
    }

    internal void Offer(StoredEvent stored)
    {
        if ((Namespace is null || stored.Namespace == Namespace) && Selector.Matches(stored.Object))
        {
            Channel.Writer.TryWrite(stored.Line);
        }
    }
}

/// <summary>Equality-based label selectors: <c>k=v</c>, <c>k==v</c>, <c>k!=v</c>, <c>k</c>, <c>!k</c>, comma-separated.</summary>
internal sealed class LabelSelector
{
    private readonly List<Func<JsonObject?, bool>> _requirements = new();

    public static LabelSelector Parse(string? text)
    {
        var selector = new LabelSelector();
        if (string.IsNullOrWhiteSpace(text))
        {
            return selector;
        }

        foreach (var raw in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (raw.Contains("!=", StringComparison.Ordinal))
            {
                var parts = raw.Split("!=", 2);
                selector._requirements.Add(labels => Label(labels, parts[0]) != parts[1]);
            }
            else if (raw.Contains('=', StringComparison.Ordinal))
            {
                var parts = raw.Replace("==", "=", StringComparison.Ordinal).Split('=', 2);
                selector._requirements.Add(labels => Label(labels, parts[0]) == parts[1]);
            }
            else if (raw.StartsWith('!'))
            {
                var key = raw[1..];
                selector._requirements.Add(labels => Label(labels, key) is null);
            }
            else
            {
                selector._requirements.Add(labels => Label(labels, raw) is not null);
            }
        }

        return selector;
    }

    public bool Matches(JsonObject obj)
    {
        var labels = obj["metadata"]?["labels"] as JsonObject;
        return _requirements.TrueForAll(r => r(labels));
    }

    private static string? Label(JsonObject? labels, string key) => labels?[key]?.GetValue<string>();
}
