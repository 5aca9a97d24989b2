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

    /// <summary>POST; the fields set become <paramref name="fieldManager"/>'s (operation Update) in metadata.managedFields.</summary>
    public FakeApiResult Create(FakeResourceType type, string ns, JsonObject body, string? fieldManager = null) =>
        Create(type, ns, body, fieldManager ?? DefaultFieldManager, FakeManagedFields.UpdateOperation);

    private FakeApiResult Create(FakeResourceType type, string ns, JsonObject body, string fieldManager, string operation)
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
            var managed = new Dictionary<(string Manager, string Operation), HashSet<string>>
            {
                [(fieldManager, operation)] = FakeManagedFields.Leaves(obj).Keys.ToHashSet(StringComparer.Ordinal),
            };
            FakeManagedFields.Write(obj, managed, type.ApiVersion);
            Commit(table, ns, name, obj, "ADDED");
            return FakeApiResult.Created(obj.DeepClone());
        }
    }

    /// <summary>PUT of the object or, with <paramref name="status"/>, of its status subresource only.</summary>
    public FakeApiResult Replace(FakeResourceType type, string ns, string name, JsonObject body, bool status, string? fieldManager = null)
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

            return Update(table, ns, name, current, (JsonObject)body.DeepClone(), status, fieldManager);
        }
    }

    /// <summary>JSON merge patch (RFC 7386); strategic merge patches are applied as merge patches.</summary>
    public FakeApiResult Patch(FakeResourceType type, string ns, string name, JsonNode patch, bool status, string? fieldManager = null)
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

            return Update(table, ns, name, current, patched, status, fieldManager);
        }
    }

    /// <summary>
    /// Server-side apply (<c>application/apply-patch+yaml</c>): creates the object if absent; otherwise sets every field
    /// of <paramref name="applied"/>, removes the fields <paramref name="fieldManager"/> applied last time and no longer
    /// applies (unless another manager also owns them), and answers 409 when a field owned by another manager would
    /// change, unless <paramref name="force"/> takes it over.
    /// </summary>
    public FakeApiResult Apply(FakeResourceType type, string ns, string name, JsonObject applied, string fieldManager, bool force)
    {
        if (string.IsNullOrEmpty(fieldManager))
        {
            return FakeApiResult.Status(400, "BadRequest", "PATCH with apply-patch needs fieldManager");
        }

        if (applied["apiVersion"]?.GetValue<string>() != type.ApiVersion || applied["kind"]?.GetValue<string>() != type.Kind)
        {
            return FakeApiResult.Status(400, "BadRequest", $"apply needs apiVersion {type.ApiVersion} and kind {type.Kind}");
        }

        if (applied["metadata"]?["name"]?.GetValue<string>() is { } bodyName && bodyName != name)
        {
            return FakeApiResult.Status(400, "BadRequest", "the name in the body does not match the URL");
        }

        var appliedLeaves = FakeManagedFields.Leaves(applied);
        lock (_lock)
        {
            var table = GetTable(type);
            if (!table.Objects.TryGetValue((ns, name), out var current))
            {
                var body = (JsonObject)applied.DeepClone();
                var metadata = Metadata(body);
                metadata["name"] = name;
                return Create(type, ns, body, fieldManager, FakeManagedFields.ApplyOperation);
            }

            var precondition = applied["metadata"]?["resourceVersion"]?.GetValue<string>();
            if (!string.IsNullOrEmpty(precondition) && precondition != Metadata(current)["resourceVersion"]!.GetValue<string>())
            {
                return Conflict(type, name);
            }

            var managed = FakeManagedFields.Read(current);
            var self = (fieldManager, FakeManagedFields.ApplyOperation);
            var conflicts = new List<string>();
            foreach (var ((manager, operation), paths) in managed)
            {
                if ((manager, operation) == self)
                {
                    continue;
                }

                foreach (var path in paths.Where(appliedLeaves.ContainsKey).ToList())
                {
                    if (JsonNode.DeepEquals(FakeManagedFields.Get(current, path), appliedLeaves[path]))
                    {
                        continue; // Same value: shared ownership, no conflict.
                    }

                    conflicts.Add($"{path.Replace('', '.')} (owned by {manager})");
                    if (force)
                    {
                        paths.Remove(path);
                    }
                }
            }

            if (conflicts.Count > 0 && !force)
            {
                return FakeApiResult.Status(409, "Conflict", "Apply failed with conflicts: " + string.Join(", ", conflicts));
            }

            var next = (JsonObject)current.DeepClone();
            var previous = managed.TryGetValue(self, out var owned) ? owned : [];
            foreach (var path in previous.Where(p => !appliedLeaves.ContainsKey(p)))
            {
                if (!managed.Any(m => m.Key != self && m.Value.Contains(path)))
                {
                    FakeManagedFields.Remove(next, path);
                }
            }

            foreach (var (path, value) in appliedLeaves)
            {
                FakeManagedFields.Set(next, path, value);
            }

            managed[self] = appliedLeaves.Keys.ToHashSet(StringComparer.Ordinal);
            FakeManagedFields.Write(next, managed, type.ApiVersion);
            return Update(table, ns, name, current, next, status: false, fieldManager: null, trackFields: false);
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

    private FakeApiResult Update(Table table, string ns, string name, JsonObject current, JsonObject proposed, bool status, string? fieldManager, bool trackFields = true)
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
        if (trackFields && !status)
        {
            TrackUpdate(current, next, fieldManager ?? DefaultFieldManager, type.ApiVersion);
        }

        if (JsonNode.DeepEquals(current, next))
        {
            // The real API server turns a no-op update into a read: no new resourceVersion, no watch event.
            return FakeApiResult.Ok(current.DeepClone());
        }

        Commit(table, ns, name, next, "MODIFIED");
        return FakeApiResult.Ok(next.DeepClone());
    }

    /// <summary>
    /// An Update operation (PUT, merge patch) by <paramref name="manager"/>: it owns every field it changed or added;
    /// other managers lose those fields and the ones it removed. The managedFields in the body are the server's, not the client's.
    /// </summary>
    private static void TrackUpdate(JsonObject current, JsonObject next, string manager, string apiVersion)
    {
        var managed = FakeManagedFields.Read(current);
        {
            var before = FakeManagedFields.Leaves(current);
            var after = FakeManagedFields.Leaves(next);
            var changed = after.Where(p => !before.TryGetValue(p.Key, out var old) || !JsonNode.DeepEquals(old, p.Value)).Select(p => p.Key).ToList();
            var removed = before.Keys.Where(p => !after.ContainsKey(p)).ToList();
            if (changed.Count > 0 || removed.Count > 0)
            {
                foreach (var (_, paths) in managed)
                {
                    paths.ExceptWith(changed);
                    paths.ExceptWith(removed);
                }

                var key = (manager, FakeManagedFields.UpdateOperation);
                if (!managed.TryGetValue(key, out var mine))
                {
                    mine = new HashSet<string>(StringComparer.Ordinal);
                    managed[key] = mine;
                }

                mine.UnionWith(changed);
            }
        }

        FakeManagedFields.Write(next, managed, apiVersion);
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

    private const string DefaultFieldManager = "unknown";

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
