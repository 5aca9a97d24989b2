using System.Text.Json.Nodes;

namespace Waypoint.TestKit.Kubernetes;

/// <summary>
/// Server-side apply field ownership, as the API server keeps it in <c>metadata.managedFields</c> (FieldsV1: nested
/// <c>f:&lt;field&gt;</c> keys, <c>{}</c> at each owned field). Simplification: every list is atomic (owned as a whole),
/// as for CRDs without list-type markers; built-in associative lists (containers by name) are not modelled.
/// Maps are granular: each key is its own field, so a label or annotation another manager set survives our apply.
/// </summary>
internal static class FakeManagedFields
{
    public const string ApplyOperation = "Apply";
    public const string UpdateOperation = "Update";

    private static readonly HashSet<string> UntrackedMetadata = new(StringComparer.Ordinal)
    {
        "name", "namespace", "resourceVersion", "uid", "generation", "creationTimestamp", "managedFields", "deletionTimestamp",
    };

    /// <summary>Owned field paths per (manager, operation).</summary>
    public static Dictionary<(string Manager, string Operation), HashSet<string>> Read(JsonObject obj)
    {
        var result = new Dictionary<(string, string), HashSet<string>>();
        if (obj["metadata"]?["managedFields"] is not JsonArray entries)
        {
            return result;
        }

        foreach (var entry in entries.OfType<JsonObject>())
        {
            var manager = entry["manager"]?.GetValue<string>() ?? "";
            var operation = entry["operation"]?.GetValue<string>() ?? UpdateOperation;
            var paths = new HashSet<string>(StringComparer.Ordinal);
            if (entry["fieldsV1"] is JsonObject fields)
            {
                Collect(fields, "", paths);
            }

            result[(manager, operation)] = paths;
        }

        return result;
    }

    public static void Write(JsonObject obj, Dictionary<(string Manager, string Operation), HashSet<string>> managed, string apiVersion)
    {
        var entries = new JsonArray();
        foreach (var ((manager, operation), paths) in managed.OrderBy(p => p.Key.Manager, StringComparer.Ordinal).ThenBy(p => p.Key.Operation, StringComparer.Ordinal))
        {
            if (paths.Count == 0)
            {
                continue;
            }

            var fields = new JsonObject();
            foreach (var path in paths.Order(StringComparer.Ordinal))
            {
                var node = fields;
                foreach (var segment in path.Split('\u0001'))
                {
                    if (node["f:" + segment] is not JsonObject child)
                    {
                        child = new JsonObject();
                        node["f:" + segment] = child;
                    }

                    node = child;
                }
            }

            entries.Add(new JsonObject
            {
                ["manager"] = manager,
                ["operation"] = operation,
                ["apiVersion"] = apiVersion,
                ["fieldsType"] = "FieldsV1",
                ["fieldsV1"] = fields,
            });
        }

        var metadata = (JsonObject)obj["metadata"]!;
        metadata.Remove("managedFields");
        if (entries.Count > 0)
        {
            metadata["managedFields"] = entries;
        }
    }

    /// <summary>Every field a manager can own in <paramref name="obj"/>: scalars, lists and empty objects, by path.</summary>
    public static Dictionary<string, JsonNode?> Leaves(JsonObject obj)
    {
        var leaves = new Dictionary<string, JsonNode?>(StringComparer.Ordinal);
        foreach (var (key, value) in obj)
        {
            if (key is "apiVersion" or "kind" or "status")
            {
                continue;
            }

            if (key == "metadata" && value is JsonObject metadata)
            {
                foreach (var (metaKey, metaValue) in metadata)
                {
                    if (!UntrackedMetadata.Contains(metaKey))
                    {
                        AddLeaves(metaValue, "metadata\u0001" + metaKey, leaves);
                    }
                }

                continue;
            }

            AddLeaves(value, key, leaves);
        }

        return leaves;
    }

    public static JsonNode? Get(JsonObject obj, string path)
    {
        JsonNode? node = obj;
        foreach (var segment in path.Split('\u0001'))
        {
            node = node is JsonObject o && o.TryGetPropertyValue(segment, out var child) ? child : null;
            if (node is null)
            {
                return null;
            }
        }

        return node;
    }

    public static bool Has(JsonObject obj, string path)
    {
        JsonNode? node = obj;
        foreach (var segment in path.Split('\u0001'))
        {
            if (node is not JsonObject o || !o.TryGetPropertyValue(segment, out var child))
            {
                return false;
            }

            node = child;
        }

        return true;
    }

    public static void Set(JsonObject obj, string path, JsonNode? value)
    {
        var segments = path.Split('\u0001');
        var node = obj;
        foreach (var segment in segments[..^1])
        {
            if (node[segment] is not JsonObject child)
            {
                child = new JsonObject();
                node[segment] = child;
            }

            node = child;
        }

        node[segments[^1]] = value?.DeepClone();
    }

    /// <summary>Removes the field and then every object left empty on the way up.</summary>
    public static void Remove(JsonObject obj, string path)
    {
        var segments = path.Split('\u0001');
        var chain = new List<JsonObject> { obj };
        foreach (var segment in segments[..^1])
        {
            if (chain[^1][segment] is not JsonObject child)
            {
                return;
            }

            chain.Add(child);
        }

        chain[^1].Remove(segments[^1]);
        for (var i = chain.Count - 1; i > 0; i--)
        {
            if (chain[i].Count > 0)
            {
                break;
            }

            chain[i - 1].Remove(segments[i - 1]);
        }
    }

    private static void AddLeaves(JsonNode? value, string path, Dictionary<string, JsonNode?> leaves)
    {
        if (value is JsonObject o && o.Count > 0)
        {
            foreach (var (key, child) in o)
            {
                AddLeaves(child, path + "\u0001" + key, leaves);
            }

            return;
        }

        leaves[path] = value;
    }

    private static void Collect(JsonObject fields, string prefix, HashSet<string> paths)
    {
        var children = fields.Where(p => p.Key.StartsWith("f:", StringComparison.Ordinal)).ToList();
        if (children.Count == 0)
        {
            if (prefix.Length > 0)
            {
                paths.Add(prefix);
            }

            return;
        }

        foreach (var (key, child) in children)
        {
            var path = prefix.Length == 0 ? key[2..] : prefix + "\u0001" + key[2..];
            Collect(child as JsonObject ?? new JsonObject(), path, paths);
        }
    }
}
