using k8s.Models;
using Waypoint.Translator.Model;

namespace Waypoint.Translator.Internal;

/// <summary>Lookups over a <see cref="ClusterSnapshot"/>, built once per translation.</summary>
internal sealed class SnapshotIndex
{
    private readonly Dictionary<string, V1Namespace> _namespaces;
    private readonly Dictionary<(string Ns, string Name), ServiceModel> _services;
    private readonly Dictionary<(string Ns, string Name), List<ServiceModel>> _serviceEntries = [];
    private readonly Dictionary<(string Ns, string Name), List<V1EndpointSlice>> _slices;
    private readonly Dictionary<(string Ns, string Name), V1Pod> _pods;
    private readonly Dictionary<string, List<V1Pod>> _podsByNamespace = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<V1beta1ReferenceGrant>> _grants = new(StringComparer.Ordinal);
    private readonly Dictionary<string, V1GatewayClass> _classes = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Ns, string Name), V1alpha1WaypointParameters> _parameters = [];

    public SnapshotIndex(ClusterSnapshot snapshot, TranslatorOptions options)
    {
        Snapshot = snapshot;
        _namespaces = new(snapshot.Namespaces.Count, StringComparer.Ordinal);
        _services = new(snapshot.Services.Count);
        _slices = new(snapshot.EndpointSlices.Count);
        _pods = new(snapshot.Pods.Count);
        foreach (var ns in snapshot.Namespaces)
        {
            _namespaces[ns.Metadata.Name] = ns;
        }

        foreach (var cls in snapshot.GatewayClasses)
        {
            _classes[cls.Metadata.Name] = cls;
        }

        foreach (var parameters in snapshot.WaypointParameters)
        {
            _parameters[(parameters.Metadata.NamespaceProperty ?? "default", parameters.Metadata.Name)] = parameters;
        }

        foreach (var svc in snapshot.Services)
        {
            var model = ServiceModel.FromService(svc, options.ClusterDomain);
            if (model is not null)
            {
                _services[(model.Namespace, model.Name)] = model;
            }
        }

        foreach (var se in snapshot.ServiceEntries)
        {
            var models = ServiceModel.FromServiceEntry(se).ToList();
            if (models.Count > 0)
            {
                _serviceEntries[(models[0].Namespace, models[0].Name)] = models;
            }
        }

        foreach (var slice in snapshot.EndpointSlices)
        {
            if (slice.Metadata.Labels is null || !slice.Metadata.Labels.TryGetValue(WellKnown.ServiceNameLabel, out var svc))
            {
                continue;
            }

            var key = (slice.Metadata.NamespaceProperty ?? "default", svc);
            if (!_slices.TryGetValue(key, out var list))
            {
                _slices[key] = list = [];
            }

            list.Add(slice);
        }

        foreach (var pod in snapshot.Pods)
        {
            var ns = pod.Metadata.NamespaceProperty ?? "default";
            _pods[(ns, pod.Metadata.Name)] = pod;
            if (!_podsByNamespace.TryGetValue(ns, out var list))
            {
                _podsByNamespace[ns] = list = [];
            }

            list.Add(pod);
        }

        foreach (var grant in snapshot.ReferenceGrants)
        {
            var ns = grant.Metadata.NamespaceProperty ?? "default";
            if (!_grants.TryGetValue(ns, out var list))
            {
                _grants[ns] = list = [];
            }

            list.Add(grant);
        }
    }

    public ClusterSnapshot Snapshot { get; }

    public IEnumerable<ServiceModel> Services => _services.Values;

    public IEnumerable<ServiceModel> ServiceEntryHosts => _serviceEntries.Values.SelectMany(l => l);

    public V1Namespace? Namespace(string name) => _namespaces.GetValueOrDefault(name);

    public V1GatewayClass? GatewayClass(string name) => _classes.GetValueOrDefault(name);

    public bool HasWaypointParameters(string ns, string name) => _parameters.ContainsKey((ns, name));

    public V1alpha1WaypointParameters? WaypointParameters(string ns, string name) => _parameters.GetValueOrDefault((ns, name));

    public ServiceModel? Service(string ns, string name) => _services.GetValueOrDefault((ns, name));

    public IReadOnlyList<ServiceModel> ServiceEntry(string ns, string name) =>
        _serviceEntries.TryGetValue((ns, name), out var list) ? list : [];

    public IReadOnlyList<V1EndpointSlice> SlicesOf(string ns, string service) =>
        _slices.TryGetValue((ns, service), out var list) ? list : [];

    public V1Pod? Pod(string ns, string name) => _pods.GetValueOrDefault((ns, name));

    public IReadOnlyList<V1Pod> PodsIn(string ns) => _podsByNamespace.TryGetValue(ns, out var list) ? list : [];

    /// <summary>Whether a ReferenceGrant in <paramref name="toNamespace"/> lets an HTTPRoute in <paramref name="fromNamespace"/> refer to the object.</summary>
    public bool ReferenceGranted(string fromNamespace, string toNamespace, string toGroup, string toKind, string toName)
    {
        if (!_grants.TryGetValue(toNamespace, out var grants))
        {
            return false;
        }

        foreach (var grant in grants)
        {
            var fromOk = grant.Spec.From.Any(f =>
                f.Group == GatewayApi.Group && f.Kind == WellKnown.HttpRouteKind && f.Namespace == fromNamespace);
            var toOk = grant.Spec.To.Any(t =>
                (t.Group ?? "") == toGroup && t.Kind == toKind && (string.IsNullOrEmpty(t.Name) || t.Name == toName));
            if (fromOk && toOk)
            {
                return true;
            }
        }

        return false;
    }
}
