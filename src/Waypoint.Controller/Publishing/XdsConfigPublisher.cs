using Waypoint.Translator;
using Waypoint.Xds;

namespace Waypoint.Controller.Publishing;

/// <summary>
/// Hands each translation to the in-process xDS server: one snapshot per waypoint, keyed by the node group that the
/// waypoint's Envoys announce as <c>node.cluster</c> (<see cref="WaypointKey.ToString"/>, <c>name.namespace</c>).
/// </summary>
/// <remarks>
/// Snapshots are rebuilt only for waypoints whose translated version changed, so an unchanged waypoint costs
/// nothing and its Envoys see no push. Waypoints that disappear from the translation lose their snapshot.
/// </remarks>
public sealed class XdsConfigPublisher(XdsSnapshotCache cache) : IWaypointConfigPublisher
{
    private readonly XdsSnapshotCache _cache = cache ?? throw new ArgumentNullException(nameof(cache));
    private Dictionary<string, string> _publishedVersions = new(StringComparer.Ordinal);

    public ValueTask PublishAsync(WaypointConfigUpdate update, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(update);
        var published = new Dictionary<string, string>(update.Translation.Waypoints.Count, StringComparer.Ordinal);
        foreach (var (key, resources) in update.Translation.Waypoints)
        {
            var nodeGroup = key.ToString();
            published[nodeGroup] = resources.Version;
            if (_publishedVersions.TryGetValue(nodeGroup, out var version) && version == resources.Version)
            {
                continue;
            }

            _cache.SetSnapshot(nodeGroup, ToSnapshot(resources));
        }

        foreach (var nodeGroup in _publishedVersions.Keys)
        {
            if (!published.ContainsKey(nodeGroup))
            {
                _cache.RemoveSnapshot(nodeGroup);
            }
        }

        // Calls never overlap (the controller's contract), so a plain swap is enough.
        _publishedVersions = published;
        return ValueTask.CompletedTask;
    }

    /// <summary>Uses the translator's encodings when it made them, so no resource is encoded twice.</summary>
    internal static XdsSnapshot ToSnapshot(WaypointResources resources) =>
        resources.Encoded.Count == 0
            ? XdsSnapshot.Create(resources.Listeners, resources.Routes, resources.Clusters, resources.Endpoints)
            : XdsSnapshot.Create(resources.Encoded.Select(e => XdsResource.FromEncoded(e.TypeUrl, e.Name, e.Message, e.Bytes)));
}
