using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Waypoint.Translator;
using Waypoint.Translator.Model;
using Waypoint.Xds;
using Waypoint.Xds.Diagnostics;

namespace Waypoint.Controller.Publishing;

/// <summary>
/// Turns Envoy's NACKs into <see cref="EnvoyRejection"/>s for the next translation, so the objects behind a rejected
/// resource are reported with Envoy's error and left out, while the rest of the waypoint keeps updating.
/// </summary>
/// <remarks>
/// <para>
/// The xDS server reports the resources of the rejected response; they are matched (same message, else same bytes)
/// to the translation of the waypoint that produced them, among its recent publishes, so a NACK that arrives after
/// newer publishes is still judged against what Envoy was actually sent. The translator's provenance
/// (<see cref="WaypointResources.SourcesOf"/>) names the objects each rejected resource was made from (resources
/// Envoy names in its message first). Of those, the suspects are the HTTPRoutes, TrafficPolicies, AuthorizationPolicies
/// and RequestAuthentications that are new or
/// changed (by generation) since the waypoint's last earlier translation that Envoy did not reject; when there is
/// no such baseline (the first configuration) or nothing changed, every route and policy behind the resource is a
/// suspect. A rejection naming no route or policy (a cluster, the HBONE listener) is the Gateway's: its Programmed
/// condition says so until the waypoint's configuration changes.
/// </para>
/// <para>
/// A rejection lasts until its object is edited (a new generation) or deleted. Envoy keeps its last good
/// configuration meanwhile: the xDS server never re-sends a rejected version.
/// </para>
/// </remarks>
internal sealed class EnvoyRejectionTracker
{
    /// <summary>Publishes per waypoint a NACK can still be matched to (Envoy answers within seconds).</summary>
    private const int HistoryDepth = 16;

    private readonly ConcurrentQueue<XdsNackEvent> _nacks = new();
    private readonly ILogger _logger;
    private readonly Action _changed;
    private readonly Dictionary<SourceKey, EnvoyRejection> _rejections = [];
    private readonly Dictionary<WaypointKey, List<SentTranslation>> _history = [];
    private readonly ConcurrentDictionary<WaypointKey, string> _gatewayRejections = new();
    private readonly Lock _gate = new();

    private readonly Action<SourceObject, string>? _blamed;

    /// <param name="blamed">Told each object newly blamed for a NACK (a Gateway when no route or policy is), with Envoy's message.</param>
    public EnvoyRejectionTracker(ILogger logger, Action changed, Action<SourceObject, string>? blamed = null)
    {
        _logger = logger;
        _changed = changed;
        _blamed = blamed;
    }

    /// <summary>Called by the xDS server on its stream loop: queue and wake the publisher.</summary>
    public void OnNack(XdsNackEvent nack)
    {
        _nacks.Enqueue(nack);
        _changed();
    }

    /// <summary>Envoy's message when it rejected a resource that only the Gateway accounts for; null otherwise.</summary>
    public string? GatewayRejection(WaypointKey key) => _gatewayRejections.GetValueOrDefault(key);

    /// <summary>
    /// Attributes queued NACKs and returns the rejections whose objects are still at the rejected generation in
    /// <paramref name="current"/>.
    /// </summary>
    /// <returns>The rejections, and the Gateways whose Programmed condition changed.</returns>
    public (IReadOnlyList<EnvoyRejection> Rejections, IReadOnlyList<WaypointKey> Gateways) Prepare(ClusterSnapshot current)
    {
        var gateways = new List<WaypointKey>();
        lock (_gate)
        {
            while (_nacks.TryDequeue(out var nack))
            {
                if (Attribute(nack) is { } gateway)
                {
                    gateways.Add(gateway);
                }
            }

            if (_rejections.Count > 0)
            {
                var generations = Generations(current);
                foreach (var (key, rejection) in _rejections.ToList())
                {
                    if (!generations.TryGetValue(key, out var generation) || generation != rejection.Generation)
                    {
                        _rejections.Remove(key);
                    }
                }
            }

            return (_rejections.Values.ToArray(), gateways);
        }
    }

    /// <summary>Records what each waypoint was just sent, so a later NACK can be matched to it.</summary>
    /// <returns>The Gateways whose earlier rejection no longer holds (their configuration changed).</returns>
    public IReadOnlyList<WaypointKey> Published(WaypointConfigUpdate update)
    {
        var cleared = new List<WaypointKey>();
        lock (_gate)
        {
            Dictionary<SourceKey, long?>? generations = null;
            foreach (var (key, resources) in update.Translation.Waypoints)
            {
                if (!_history.TryGetValue(key, out var history))
                {
                    _history[key] = history = [];
                }
                else if (history[^1].Resources.Version == resources.Version)
                {
                    continue;
                }

                generations ??= Generations(update.Snapshot);
                var sources = new Dictionary<SourceKey, long?>();
                foreach (var list in resources.Sources.Values)
                {
                    foreach (var source in list)
                    {
                        var sourceKey = SourceKey.Of(source);
                        sources[sourceKey] = generations.GetValueOrDefault(sourceKey);
                    }
                }

                history.Add(new SentTranslation(resources, sources));
                if (history.Count > HistoryDepth)
                {
                    history.RemoveAt(0);
                }

                if (_gatewayRejections.TryRemove(key, out _))
                {
                    cleared.Add(key);
                }
            }

            foreach (var key in _history.Keys.Where(k => !update.Translation.Waypoints.ContainsKey(k)).ToList())
            {
                _history.Remove(key);
                _gatewayRejections.TryRemove(key, out _);
            }
        }

        return cleared;
    }

    /// <returns>The waypoint whose Gateway is to blame, when no route or policy is.</returns>
    private WaypointKey? Attribute(XdsNackEvent nack)
    {
        var record = nack.Nack;
        var entry = _history.FirstOrDefault(h => h.Key.ToString() == record.NodeGroup);
        if (entry.Value is not { } history)
        {
            return null; // a node group we no longer serve
        }

        var key = entry.Key;

        // Envoy names what it could not add ("Error adding/updating listener(s) main_internal: ..."); else blame the
        // whole response.
        var rejected = nack.Rejected.Where(r => record.ErrorMessage.Contains(r.Name, StringComparison.Ordinal)).ToList();
        if (rejected.Count == 0)
        {
            rejected = nack.Rejected.ToList();
        }

        var index = history.FindLastIndex(p => rejected.Any(r => p.Contains(r)));
        if (index < 0)
        {
            return null; // older than anything we remember: a newer configuration has been sent since
        }

        var published = history[index];
        published.Rejected = true;
        var baseline = history.Take(index).LastOrDefault(p => !p.Rejected);
        var sources = rejected
            .SelectMany(r => published.Resources.SourcesOf(r.TypeUrl, r.Name))
            .Where(s => s.Kind != "Gateway")
            .Distinct()
            .ToList();
        var suspects = sources;
        if (baseline is not null)
        {
            var changed = sources.Where(s =>
            {
                var sourceKey = SourceKey.Of(s);
                return !baseline.Sources.TryGetValue(sourceKey, out var was) || was != published.Sources.GetValueOrDefault(sourceKey);
            }).ToList();
            if (changed.Count > 0)
            {
                suspects = changed;
            }
        }

        ControllerLog.EnvoyRejected(_logger, record.NodeId, key.ToString(), record.TypeUrl, record.ErrorMessage,
            suspects.Count == 0 ? $"Gateway {key.Namespace}/{key.Name}" : string.Join(", ", suspects.Select(s => $"{s.Kind} {s.Namespace}/{s.Name}")));
        if (suspects.Count == 0)
        {
            // Only what the newest configuration still carries is worth reporting.
            if (index == history.Count - 1)
            {
                if (_gatewayRejections.GetValueOrDefault(key) != record.ErrorMessage)
                {
                    _blamed?.Invoke(published.Resources.Gateway ?? new SourceObject("Gateway", key.Namespace, key.Name), record.ErrorMessage);
                }

                _gatewayRejections[key] = record.ErrorMessage;
                return key;
            }

            return null;
        }

        foreach (var suspect in suspects)
        {
            var sourceKey = SourceKey.Of(suspect);
            if (_rejections.TryAdd(sourceKey, new EnvoyRejection(suspect.Kind, suspect.Namespace, suspect.Name, published.Sources.GetValueOrDefault(sourceKey), record.ErrorMessage)))
            {
                _blamed?.Invoke(suspect, record.ErrorMessage);
            }
        }

        return null;
    }

    private static Dictionary<SourceKey, long?> Generations(ClusterSnapshot snapshot)
    {
        var generations = new Dictionary<SourceKey, long?>(snapshot.HttpRoutes.Count + snapshot.TrafficPolicies.Count + snapshot.AuthorizationPolicies.Count + snapshot.RequestAuthentications.Count);
        Add("HTTPRoute", snapshot.HttpRoutes);
        Add("TrafficPolicy", snapshot.TrafficPolicies);
        Add("AuthorizationPolicy", snapshot.AuthorizationPolicies);
        Add("RequestAuthentication", snapshot.RequestAuthentications);
        return generations;

        void Add(string kind, IEnumerable<k8s.IKubernetesObject<k8s.Models.V1ObjectMeta>> objects)
        {
            foreach (var item in objects)
            {
                generations[new SourceKey(kind, item.Metadata.NamespaceProperty ?? "default", item.Metadata.Name)] = item.Metadata.Generation;
            }
        }
    }

    private readonly record struct SourceKey(string Kind, string Namespace, string Name)
    {
        public static SourceKey Of(SourceObject source) => new(source.Kind, source.Namespace, source.Name);
    }

    /// <param name="Resources">A waypoint's translation as it was sent.</param>
    /// <param name="Sources">Generation of each route and policy behind it.</param>
    private sealed record SentTranslation(WaypointResources Resources, Dictionary<SourceKey, long?> Sources)
    {
        public bool Rejected { get; set; }

        /// <summary>Whether this translation produced the resource the xDS server sent (same encoding).</summary>
        public bool Contains(XdsResource resource)
        {
            foreach (var encoded in Resources.Encoded)
            {
                if (encoded.TypeUrl == resource.TypeUrl && encoded.Name == resource.Name
                    && (ReferenceEquals(encoded.Bytes, resource.Packed.Value) || encoded.Bytes.Equals(resource.Packed.Value)))
                {
                    return true;
                }
            }

            return false;
        }
    }
}
