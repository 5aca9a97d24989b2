using k8s.Models;
using Waypoint.Translator.Model;

namespace Waypoint.Translator.Internal;

/// <summary>A Gateway of our class that is a usable waypoint.</summary>
/// <param name="Telemetry">Its access log and tracing settings (install defaults, then class and Gateway WaypointParameters).</param>
internal sealed record WaypointGateway(WaypointKey Key, V1Gateway Gateway, GatewayListener Mesh, bool ServesServices, WaypointTelemetry Telemetry);

/// <summary>Which Gateways are waypoints, their status, and which services each serves.</summary>
internal sealed class WaypointCatalog
{
    private static readonly RouteGroupKind[] s_supportedKinds = [new() { Group = GatewayApi.Group, Kind = WellKnown.HttpRouteKind }];

    private readonly Dictionary<WaypointKey, WaypointGateway> _waypoints = [];
    private readonly Dictionary<WaypointKey, List<ServiceModel>> _bound = [];
    private readonly Dictionary<ServiceModel, WaypointKey> _bindingOf = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<WaypointKey, (V1Gateway Gateway, List<V1Condition> Conditions, List<ListenerStatus> Listeners)> _status = [];

    public WaypointCatalog(SnapshotIndex index, TranslatorOptions options)
    {
        foreach (var gateway in index.Snapshot.Gateways)
        {
            if (!IsOurs(gateway, index, options))
            {
                continue;
            }

            var key = new WaypointKey(gateway.Metadata.NamespaceProperty ?? "default", gateway.Metadata.Name);
            EvaluateGateway(key, gateway, index, options);
        }

        foreach (var service in index.Services.Concat(index.ServiceEntryHosts))
        {
            if (IsWaypointsOwnService(service))
            {
                continue;
            }

            var key = ResolveBinding(service, index);
            if (key is null || !_waypoints.TryGetValue(key.Value, out var waypoint) || !waypoint.ServesServices)
            {
                continue;
            }

            if (key.Value.Namespace != service.Namespace && !NamespaceAllowed(waypoint.Mesh, key.Value.Namespace, service.Namespace, index))
            {
                continue;
            }

            _bindingOf[service] = key.Value;
            if (!_bound.TryGetValue(key.Value, out var list))
            {
                _bound[key.Value] = list = [];
            }

            list.Add(service);
        }

        foreach (var list in _bound.Values)
        {
            list.Sort(static (a, b) =>
            {
                var byHost = string.CompareOrdinal(a.Host, b.Host);
                return byHost != 0 ? byHost : string.CompareOrdinal(a.Namespace + "/" + a.Name, b.Namespace + "/" + b.Name);
            });
        }
    }

    public IReadOnlyCollection<WaypointGateway> Waypoints => _waypoints.Values;

    public WaypointGateway? Waypoint(WaypointKey key) => _waypoints.GetValueOrDefault(key);

    public IReadOnlyList<ServiceModel> BoundTo(WaypointKey key) => _bound.TryGetValue(key, out var list) ? list : [];

    public WaypointKey? BindingOf(ServiceModel service) => _bindingOf.TryGetValue(service, out var key) ? key : null;

    public bool IsOurGatewayKey(WaypointKey key) => _status.ContainsKey(key);

    /// <summary>Ours only when the Gateway's class names our controller: a class name alone proves nothing.</summary>
    public static bool IsOurs(V1Gateway gateway, SnapshotIndex index, TranslatorOptions options)
    {
        var className = gateway.Spec?.GatewayClassName;
        return !string.IsNullOrEmpty(className) && index.GatewayClass(className)?.Spec?.ControllerName == options.ControllerName;
    }

    /// <summary>Accepted of every GatewayClass that names our controller, ordered by name.</summary>
    public static IReadOnlyList<GatewayClassStatusResult> ClassStatuses(SnapshotIndex index, TranslatorOptions options)
    {
        var results = new List<GatewayClassStatusResult>();
        foreach (var gatewayClass in index.Snapshot.GatewayClasses.OrderBy(c => c.Metadata.Name, StringComparer.Ordinal))
        {
            if (gatewayClass.Spec?.ControllerName != options.ControllerName)
            {
                continue;
            }

            var generation = gatewayClass.Metadata.Generation;
            var problem = ParametersProblem(gatewayClass.Spec.ParametersRef, null, index);
            results.Add(new GatewayClassStatusResult(gatewayClass.Metadata.Name, generation,
            [
                problem is null
                    ? Conditions.True(Conditions.Accepted, "Accepted", "Handled by the waypoint controller.", generation)
                    : Conditions.False(Conditions.Accepted, "InvalidParameters", problem, generation),
            ]));
        }

        return results;
    }

    /// <summary>
    /// Null when the reference is absent or names an existing WaypointParameters; otherwise what is wrong.
    /// <paramref name="localNamespace"/> is the Gateway's (a LocalParametersReference), null for a class's reference.
    /// </summary>
    public static string? ParametersProblem(ParametersReference? reference, string? localNamespace, SnapshotIndex index)
    {
        if (reference is null)
        {
            return null;
        }

        if (reference.Group != V1alpha1WaypointParameters.KubeGroup || reference.Kind != V1alpha1WaypointParameters.KubeKind)
        {
            return $"parametersRef must be {V1alpha1WaypointParameters.KubeGroup}/{V1alpha1WaypointParameters.KubeKind}, not {reference.Group}/{reference.Kind}.";
        }

        var ns = localNamespace ?? reference.Namespace;
        if (string.IsNullOrEmpty(ns))
        {
            return "parametersRef needs a namespace.";
        }

        return index.HasWaypointParameters(ns, reference.Name) ? null : $"WaypointParameters {ns}/{reference.Name} not found.";
    }

    /// <summary>Whether routes or services from <paramref name="fromNamespace"/> may attach to the mesh listener.</summary>
    public static bool NamespaceAllowed(GatewayListener mesh, string gatewayNamespace, string fromNamespace, SnapshotIndex index)
    {
        var from = mesh.AllowedRoutes?.Namespaces?.From ?? "Same";
        return from switch
        {
            "All" => true,
            "Same" => gatewayNamespace == fromNamespace,
            "Selector" => LabelSelectors.Matches(mesh.AllowedRoutes?.Namespaces?.Selector, index.Namespace(fromNamespace)?.Metadata.Labels),
            _ => false,
        };
    }

    public IReadOnlyList<GatewayStatusResult> Statuses(IReadOnlyDictionary<WaypointKey, int> attachedRoutes)
    {
        var results = new List<GatewayStatusResult>(_status.Count);
        foreach (var (key, (gateway, conditions, listeners)) in _status.OrderBy(p => p.Key))
        {
            var listenerStatuses = listeners
                .Select(l => l with { AttachedRoutes = l.Name == WellKnown.MeshListenerName && _waypoints.ContainsKey(key) ? attachedRoutes.GetValueOrDefault(key) : 0 })
                .ToList();
            var bound = BoundTo(key).Select(s => s.DisplayName).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
            results.Add(new GatewayStatusResult(key, gateway.Metadata.Generation, conditions, listenerStatuses, bound));
        }

        return results;
    }

    private void EvaluateGateway(WaypointKey key, V1Gateway gateway, SnapshotIndex index, TranslatorOptions options)
    {
        var generation = gateway.Metadata.Generation;
        var listeners = new List<ListenerStatus>();
        GatewayListener? mesh = null;
        var invalid = new List<string>();
        foreach (var listener in gateway.Spec.Listeners ?? [])
        {
            string? reason = null;
            string? message = null;
            if (listener.Protocol != WellKnown.HboneProtocol)
            {
                reason = "UnsupportedProtocol";
                message = $"Protocol '{listener.Protocol}' is not supported: a waypoint has exactly one listener {{name: mesh, port: 15008, protocol: HBONE}}.";
            }
            else if (listener.Port != WellKnown.HbonePort)
            {
                reason = "PortUnavailable";
                message = $"Port {listener.Port} is not supported: HBONE is served on port 15008.";
            }
            else if (listener.Hostname is not null || listener.Tls is not null)
            {
                reason = "UnsupportedValue";
                message = "hostname and tls are not supported on an HBONE listener: the waypoint terminates HBONE with the mesh certificate.";
            }
            else if (listener.Name != WellKnown.MeshListenerName)
            {
                reason = "UnsupportedValue";
                message = $"Listener name '{listener.Name}' is not supported: the HBONE listener must be named 'mesh'.";
            }
            else if (mesh is not null)
            {
                reason = "UnsupportedValue";
                message = "Duplicate HBONE listener.";
            }

            var kindsOk = listener.AllowedRoutes?.Kinds is not { Count: > 0 } kinds
                || kinds.Any(k => (k.Group ?? GatewayApi.Group) == GatewayApi.Group && k.Kind == WellKnown.HttpRouteKind);
            var conditions = new List<V1Condition>();
            if (reason is null)
            {
                mesh = listener;
                conditions.Add(Conditions.True(Conditions.Accepted, "Accepted", "Listener accepted.", generation));
                conditions.Add(kindsOk
                    ? Conditions.True(Conditions.ResolvedRefs, "ResolvedRefs", "References resolved.", generation)
                    : Conditions.False(Conditions.ResolvedRefs, "InvalidRouteKinds", "Only HTTPRoute is supported on a waypoint.", generation));
            }
            else
            {
                invalid.Add(listener.Name);
                conditions.Add(Conditions.False(Conditions.Accepted, reason, message!, generation));
                conditions.Add(Conditions.True(Conditions.ResolvedRefs, "ResolvedRefs", "References resolved.", generation));
            }

            listeners.Add(new ListenerStatus
            {
                Name = listener.Name,
                SupportedKinds = reason is null && kindsOk ? s_supportedKinds : [],
                Conditions = conditions,
            });
        }

        var gatewayConditions = new List<V1Condition>();
        var classProblem = ParametersProblem(index.GatewayClass(gateway.Spec.GatewayClassName)?.Spec?.ParametersRef, null, index);
        var parametersProblem = ParametersProblem(gateway.Spec.Infrastructure?.ParametersRef, key.Namespace, index)
            ?? (classProblem is null ? null : "GatewayClass " + classProblem);
        var telemetry = WaypointTelemetry.Off;
        if (parametersProblem is null)
        {
            var classReference = index.GatewayClass(gateway.Spec.GatewayClassName)?.Spec?.ParametersRef;
            var gatewayReference = gateway.Spec.Infrastructure?.ParametersRef;
            telemetry = WaypointTelemetry.Resolve(
                options.Telemetry,
                [
                    classReference is null ? null : index.WaypointParameters(classReference.Namespace!, classReference.Name),
                    gatewayReference is null ? null : index.WaypointParameters(key.Namespace, gatewayReference.Name),
                ],
                out parametersProblem);
        }

        var rejected = false;
        if (gateway.Spec.Addresses is { Count: > 0 })
        {
            rejected = true;
            gatewayConditions.Add(Conditions.False(Conditions.Accepted, "UnsupportedAddress",
                "A waypoint gets its address from its Service; remove spec.addresses.", generation));
        }
        else if (parametersProblem is not null)
        {
            rejected = true;
            gatewayConditions.Add(Conditions.False(Conditions.Accepted, "InvalidParameters", parametersProblem, generation));
        }
        else if (mesh is null)
        {
            gatewayConditions.Add(Conditions.False(Conditions.Accepted, "ListenersNotValid",
                "A waypoint needs the listener {name: mesh, port: 15008, protocol: HBONE}.", generation));
        }
        else if (invalid.Count > 0)
        {
            gatewayConditions.Add(Conditions.True(Conditions.Accepted, "ListenersNotValid",
                $"Accepted; listeners not valid on a waypoint: {string.Join(", ", invalid)}.", generation));
        }
        else
        {
            gatewayConditions.Add(Conditions.True(Conditions.Accepted, "Accepted", "Waypoint accepted.", generation));
        }

        _status[key] = (gateway, gatewayConditions, listeners);
        if (mesh is not null && !rejected)
        {
            var waypointFor = LabelSelectors.Get(gateway.Metadata.Labels, WellKnown.WaypointForLabel)
                ?? LabelSelectors.Get(index.GatewayClass(gateway.Spec.GatewayClassName)?.Metadata.Labels, WellKnown.WaypointForLabel)
                ?? "service";
            _waypoints[key] = new WaypointGateway(key, gateway, mesh, waypointFor is "service" or "all", telemetry);
        }
    }

    /// <summary>
    /// A waypoint's own Service (ours: named by the gateway-name label after one of this namespace's waypoints; Istio's:
    /// <c>gateway.istio.io/managed=istio.io-mesh-controller</c>) has no waypoint, as istiod decides it: otherwise a
    /// namespace's <c>use-waypoint</c> label would bind the waypoint's 15008 and 15021 to the waypoint itself.
    /// </summary>
    private bool IsWaypointsOwnService(ServiceModel service) =>
        service.Labels is { } labels
        && ((labels.TryGetValue(WellKnown.GatewayManagedLabel, out var managed) && managed == WellKnown.IstioMeshControllerValue)
            || (labels.TryGetValue(GatewayApi.GatewayNameLabel, out var gateway) && _waypoints.ContainsKey(new WaypointKey(service.Namespace, gateway))));

    /// <summary>The object's <c>use-waypoint</c> label beats its namespace's; <c>none</c> opts out.</summary>
    private static WaypointKey? ResolveBinding(ServiceModel service, SnapshotIndex index)
    {
        var labels = service.Labels;
        if (labels is not null && labels.TryGetValue(WellKnown.UseWaypointLabel, out var name) && !string.IsNullOrEmpty(name))
        {
            if (name == WellKnown.None)
            {
                return null;
            }

            return new WaypointKey(LabelSelectors.Get(labels, WellKnown.UseWaypointNamespaceLabel) is { Length: > 0 } ns ? ns : service.Namespace, name);
        }

        var nsLabels = index.Namespace(service.Namespace)?.Metadata.Labels;
        if (nsLabels is not null && nsLabels.TryGetValue(WellKnown.UseWaypointLabel, out var nsName) && !string.IsNullOrEmpty(nsName) && nsName != WellKnown.None)
        {
            return new WaypointKey(LabelSelectors.Get(nsLabels, WellKnown.UseWaypointNamespaceLabel) is { Length: > 0 } ns ? ns : service.Namespace, nsName);
        }

        return null;
    }
}
