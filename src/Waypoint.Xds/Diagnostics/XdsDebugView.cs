using System.Text.Json;
using System.Text.Json.Serialization;

namespace Waypoint.Xds.Diagnostics;

/// <summary>The JSON document served on the debug endpoint.</summary>
public sealed record XdsDebugView(
    IReadOnlyList<XdsDebugSnapshot> Snapshots,
    IReadOnlyList<XdsStreamInfo> Streams,
    IReadOnlyList<XdsNackRecord> Nacks)
{
    public static JsonSerializerOptions JsonOptions { get; } = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter() },
    };

    public static XdsDebugView Create(XdsServerStatus status, XdsSnapshotCache cache)
    {
        ArgumentNullException.ThrowIfNull(status);
        ArgumentNullException.ThrowIfNull(cache);
        var snapshots = new List<XdsDebugSnapshot>();
        foreach (var group in cache.NodeGroups.Order(StringComparer.Ordinal))
        {
            if (cache.TryGetSnapshot(group, out var snapshot))
            {
                snapshots.Add(new XdsDebugSnapshot(group, XdsTypeUrls.PushOrder.ToDictionary(
                    XdsTypeUrls.ShortName,
                    t => new XdsDebugTypeVersion(snapshot.GetVersion(t), snapshot.GetResources(t).Count))));
            }
        }

        return new XdsDebugView(snapshots, status.GetStreams(), status.GetNacks());
    }
}

public sealed record XdsDebugSnapshot(string NodeGroup, IReadOnlyDictionary<string, XdsDebugTypeVersion> Types);

public sealed record XdsDebugTypeVersion(string Version, int Resources);
