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
    private Dictionary<string, PublishedGroup> _published = new(StringComparer.Ordinal);

    public ValueTask PublishAsync(WaypointConfigUpdate update, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(update);
        var published = new Dictionary<string, PublishedGroup>(update.Translation.Waypoints.Count, StringComparer.Ordinal);
        foreach (var (key, resources) in update.Translation.Waypoints)
        {
            var nodeGroup = key.ToString();
            _published.TryGetValue(nodeGroup, out var previous);
            if (previous?.Version == resources.Version)
            {
                published[nodeGroup] = previous;
                continue;
            }

            var wrapped = new Dictionary<EncodedResource, XdsResource>(resources.Encoded.Count, ReferenceEqualityComparer.Instance);
            _cache.SetSnapshot(nodeGroup, ToSnapshot(resources, previous?.Resources, wrapped));
            published[nodeGroup] = new PublishedGroup(resources.Version, wrapped);
        }

        foreach (var nodeGroup in _published.Keys)
        {
            if (!published.ContainsKey(nodeGroup))
            {
                _cache.RemoveSnapshot(nodeGroup);
            }
        }

        // Calls never overlap (the controller's contract), so a plain swap is enough.
        _published = published;
        return ValueTask.CompletedTask;
    }

    /// <summary>Uses the translator's encodings when it made them, so no resource is encoded twice.</summary>
    internal static XdsSnapshot ToSnapshot(WaypointResources resources) => ToSnapshot(resources, previous: null, wrapped: null);

    /// <param name="resources">The waypoint's translation.</param>
    /// <param name="previous">The xDS resources of the group's last publish, by the encoding they wrap.</param>
    /// <param name="wrapped">Receives this publish's xDS resources, by the encoding they wrap.</param>
    /// <remarks>
    /// The translator hands back the same <see cref="EncodedResource"/> for everything that did not change, so the xDS
    /// resource made for it last time (hash and packed form included) is reused: a one-route change wraps only what
    /// changed.
    /// </remarks>
    private static XdsSnapshot ToSnapshot(WaypointResources resources, Dictionary<EncodedResource, XdsResource>? previous, Dictionary<EncodedResource, XdsResource>? wrapped)
    {
        if (resources.Encoded.Count == 0)
        {
            return XdsSnapshot.Create(resources.Listeners, resources.Routes, resources.Clusters, resources.Endpoints);
        }

        var xdsResources = new List<XdsResource>(resources.Encoded.Count);
        foreach (var encoded in resources.Encoded)
        {
            if (previous is null || !previous.TryGetValue(encoded, out var resource))
            {
                resource = XdsResource.FromEncoded(encoded.TypeUrl, encoded.Name, encoded.Parser, encoded.Bytes);
            }

            wrapped?.TryAdd(encoded, resource);
            xdsResources.Add(resource);
        }

        return XdsSnapshot.Create(xdsResources);
    }

    private sealed record PublishedGroup(string Version, Dictionary<EncodedResource, XdsResource> Resources);
}
