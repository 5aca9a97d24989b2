using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Waypoint.Translator;
using Waypoint.Translator.Model;
using Waypoint.Xds.Diagnostics;

namespace Waypoint.Controller.Publishing;

/// <summary>
/// Turns Envoy's NACKs into <see cref="EnvoyRejection"/>s for the next translation, so the objects behind a rejected
/// resource are reported with Envoy's error and left out, while the rest of the waypoint keeps updating.
/// </summary>
/// <remarks>
/// <para>
/// The translator's provenance (<see cref="WaypointResources.SourcesOf"/>) names the objects a resource was made from.
/// Of those, the suspects are the HTTPRoutes and TrafficPolicies that are new or changed (by generation) since the
/// last translation of that waypoint that Envoy did not reject; when there is no such baseline (the first
/// configuration) or nothing changed, every route and policy behind the resource is a suspect. A rejection
/// naming no route or policy (a cluster, the HBONE listener) is the Gateway's: its Programmed condition says so.
/// </para>
/// <para>
/// A rejection lasts until its object is edited (a new generation) or deleted. Envoy keeps its last good
/// configuration meanwhile: the xDS server never re-sends a rejected version.
/// </para>
/// </remarks>
internal sealed class EnvoyRejectionTracker
{
    private readonly ConcurrentQueue<XdsNackRecord> _nacks = new();
    private readonly ILogger _logger;
    private readonly Action _changed;
    private readonly Dictionary<SourceKey, EnvoyRejection> _rejections = [];
    private readonly Dictionary<WaypointKey, WaypointHistory> _history = [];
    private readonly ConcurrentDictionary<WaypointKey, string> _gatewayRejections = new();
    private readonly Lock _gate = new();

    public EnvoyRejectionTracker(ILogger logger, Action changed)
    {
        _logger = logger;
        _changed = changed;
    }

    /// <summary>Called by the xDS server on its stream loop: queue and wake the publisher.</summary>
    public void OnNack(XdsNackRecord nack)
    {
        _nacks.Enqueue(nack);
        _changed();
    }

    /// <summary>Envoy's message when it rejected a resource that only the Gateway accounts for; null otherwise.</summary>
    public string? GatewayRejection(WaypointKey key) => _gatewayRejections.GetValueOrDefault(key);

    /// <summary>
    /// Attributes queued NACKs against <paramref name="latest"/> (what Envoy was last sent) and returns the rejections
    /// whose objects are still at the rejected generation in <paramref name="current"/>.
    /// </summary>
    /// <returns>The rejections, and the Gateways whose Programmed condition changed.</returns>
    public (IReadOnlyList<EnvoyRejection> Rejections, IReadOnlyList<WaypointKey> Gateways) Prepare(WaypointConfigUpdate? latest, ClusterSnapshot current)
    {
        var gateways = new List<WaypointKey>();
        lock (_gate)
        {
            while (_nacks.TryDequeue(out var nack))
            {
                if (latest is not null && Attribute(nack, latest) is { } gateway)
                {
                    gateways.Add(gateway);
                }
            }

            var generations = Generations(current);
            foreach (var (key, rejection) in _rejections.ToList())
            {
                if (!generations.TryGetValue(key, out var generation) || generation != rejection.Generation)
                {
                    _rejections.Remove(key);
                }
            }

            return (_rejections.Values.ToArray(), gateways);
        }
    }

    /// <summary>Records what each waypoint was just sent, the baseline the next NACK is judged against.</summary>
    /// <returns>The Gateways whose earlier rejection no longer holds (their configuration changed).</returns>
    public IReadOnlyList<WaypointKey> Published(WaypointConfigUpdate update)
    {
        var cleared = new List<WaypointKey>();
        lock (_gate)
        {
            Dictionary<SourceKey, long?>? generations = null;
            foreach (var (key, resources) in update.Translation.Waypoints)
            {
                if (_history.TryGetValue(key, out var history) && history.Version == resources.Version)
                {
                    continue;
                }

                generations ??= Generations(update.Snapshot);
                var sources = new Dictionary<SourceKey, long?>();
                foreach (var list in resources.Sources.Values)
                {
                    foreach (var source in list)
                    {
                        var sourceKey = new SourceKey(source.Kind, source.Namespace, source.Name);
                        sources[sourceKey] = generations.GetValueOrDefault(sourceKey);
                    }
                }

                // The configuration this one replaces was good unless Envoy rejected it.
                var accepted = history is null ? null : history.Rejected ? history.Accepted : history.Sources;
                _history[key] = new WaypointHistory(resources.Version, sources, accepted);
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
    private WaypointKey? Attribute(XdsNackRecord nack, WaypointConfigUpdate latest)
    {
        var entry = latest.Translation.Waypoints.FirstOrDefault(w => w.Key.ToString() == nack.NodeGroup);
        if (entry.Value is not { } resources)
        {
            return null; // a node group we no longer serve
        }

        var key = entry.Key;
        var names = resources.Encoded.Where(e => e.TypeUrl == nack.TypeUrl).Select(e => e.Name).Distinct(StringComparer.Ordinal).ToList();

        // Envoy names the resources it could not add ("Error adding/updating listener(s) main_internal: ...").
        var named = names.Where(n => nack.ErrorMessage.Contains(n, StringComparison.Ordinal)).ToList();
        var sources = (named.Count > 0 ? named : names)
            .SelectMany(n => resources.SourcesOf(nack.TypeUrl, n))
            .Where(s => s.Kind != "Gateway")
            .Distinct()
            .ToList();
        if (_history.TryGetValue(key, out var history))
        {
            history.Rejected = true;
        }

        var suspects = sources;
        if (history?.Accepted is { } accepted)
        {
            var changed = sources.Where(s =>
            {
                var sourceKey = new SourceKey(s.Kind, s.Namespace, s.Name);
                return !accepted.TryGetValue(sourceKey, out var was) || was != history.Sources.GetValueOrDefault(sourceKey);
            }).ToList();
            if (changed.Count > 0)
            {
                suspects = changed;
            }
        }

        ControllerLog.EnvoyRejected(_logger, nack.NodeId, key.ToString(), nack.TypeUrl, nack.ErrorMessage,
            suspects.Count == 0 ? "Gateway " + key.Namespace + "/" + key.Name : string.Join(", ", suspects.Select(s => $"{s.Kind} {s.Namespace}/{s.Name}")));
        if (suspects.Count == 0)
        {
            _gatewayRejections[key] = nack.ErrorMessage;
            return key;
        }

        foreach (var suspect in suspects)
        {
            var sourceKey = new SourceKey(suspect.Kind, suspect.Namespace, suspect.Name);
            _rejections.TryAdd(sourceKey, new EnvoyRejection(suspect.Kind, suspect.Namespace, suspect.Name, history?.Sources.GetValueOrDefault(sourceKey), nack.ErrorMessage));
        }

        return null;
    }

    private static Dictionary<SourceKey, long?> Generations(ClusterSnapshot snapshot)
    {
        var generations = new Dictionary<SourceKey, long?>(snapshot.HttpRoutes.Count + snapshot.TrafficPolicies.Count);
        foreach (var route in snapshot.HttpRoutes)
        {
            generations[new SourceKey("HTTPRoute", route.Metadata.NamespaceProperty ?? "default", route.Metadata.Name)] = route.Metadata.Generation;
        }

        foreach (var policy in snapshot.TrafficPolicies)
        {
            generations[new SourceKey("TrafficPolicy", policy.Metadata.NamespaceProperty ?? "default", policy.Metadata.Name)] = policy.Metadata.Generation;
        }

        return generations;
    }

    private readonly record struct SourceKey(string Kind, string Namespace, string Name);

    /// <param name="Version">The waypoint's translated version last sent.</param>
    /// <param name="Sources">Generation of each route and policy behind that version.</param>
    /// <param name="Accepted">The same for the last version Envoy did not reject (null: none yet).</param>
    private sealed record WaypointHistory(string Version, Dictionary<SourceKey, long?> Sources, Dictionary<SourceKey, long?>? Accepted)
    {
        public bool Rejected { get; set; }
    }
}
