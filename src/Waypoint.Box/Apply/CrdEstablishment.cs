using System.Text.Json;

namespace Waypoint.Box.Apply;

/// <summary>
/// How the box installs its CRDs in process: which files a CRD path names (as <c>kubectl apply -f</c> reads a folder:
/// its own <c>.yaml</c>, <c>.yml</c> and <c>.json</c> files, not subfolders), and which CRDs of a list are not yet
/// <c>Established=True</c>.
/// </summary>
internal static class CrdEstablishment
{
    /// <summary>The CRDs, read as the admin.</summary>
    public const string ListPath = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";

    /// <summary>How many CRD documents are sent at once (the API server compiles each one's schema).</summary>
    public const int ApplyParallelism = 8;

    /// <summary>How often Established is looked at.</summary>
    public static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);

    /// <summary>A file as it is; a folder's YAML and JSON files in name order.</summary>
    public static IEnumerable<string> Files(string path) => File.Exists(path)
        ? [path]
        : Directory.EnumerateFiles(path)
            .Where(f => f.EndsWith(".yaml", StringComparison.Ordinal) || f.EndsWith(".yml", StringComparison.Ordinal) || f.EndsWith(".json", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal);

    /// <summary>The names of <paramref name="names"/> that the CRD list (its <c>items</c>) lacks or shows without <c>Established=True</c>, in name order.</summary>
    public static IReadOnlyList<string> NotEstablished(JsonElement list, IReadOnlySet<string> names)
    {
        var established = new HashSet<string>(StringComparer.Ordinal);
        if (list.TryGetProperty("items", out var items) && items.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in items.EnumerateArray())
            {
                if (item.TryGetProperty("metadata", out var metadata) && metadata.TryGetProperty("name", out var name) && name.GetString() is { } crd
                    && item.TryGetProperty("status", out var status) && status.TryGetProperty("conditions", out var conditions) && conditions.ValueKind == JsonValueKind.Array
                    && conditions.EnumerateArray().Any(c => c.TryGetProperty("type", out var type) && type.GetString() == "Established"
                        && c.TryGetProperty("status", out var value) && value.GetString() == "True"))
                {
                    established.Add(crd);
                }
            }
        }

        return [.. names.Where(n => !established.Contains(n)).Order(StringComparer.Ordinal)];
    }
}
