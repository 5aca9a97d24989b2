using Waypoint.Translator.Model;

namespace Waypoint.Translator.Internal;

/// <summary>A service port a waypoint needs a cluster for.</summary>
/// <param name="Name">The cluster name.</param>
/// <param name="Service">The service.</param>
/// <param name="Port">The service port.</param>
/// <param name="Http">HTTP cluster (else TCP).</param>
internal sealed record ClusterRequest(string Name, ServiceModel Service, ServicePortModel Port, bool Http);

/// <summary>Resolves backendRefs to cluster names for one waypoint, collecting the clusters they need.</summary>
internal sealed class BackendResolver(SnapshotIndex index, WaypointCatalog catalog, WaypointKey waypoint)
{
    /// <summary>Clusters referenced by routes, by name (insertion order is irrelevant: output is sorted).</summary>
    public Dictionary<string, ClusterRequest> Requests { get; } = new(StringComparer.Ordinal);

    private readonly Dictionary<BackendKey, ClusterRequest?> _resolved = [];

    public static string InboundName(int port, bool http, string host) => $"inbound-vip|{port}|{(http ? "http" : "tcp")}|{host}";

    public static string OutboundName(int port, string host) => $"outbound|{port}||{host}";

    /// <summary>The cluster name of an invalid backend: no such cluster exists, so Envoy answers 500 for its share.</summary>
    public static string InvalidName(string ns, string name) => $"invalid-backend|{ns}|{name}";

    /// <summary>Why a backendRef cannot be used, or null if it can (port fallback aside).</summary>
    public static (string Reason, string Message)? Check(string routeNs, BackendObjectReference backend, SnapshotIndex index)
    {
        var group = backend.Group ?? "";
        var kind = backend.Kind ?? WellKnown.ServiceKind;
        var name = backend.Name;
        var port = backend.Port;
        var targetNs = backend.Namespace ?? routeNs;
        ServiceModel? target;
        if (group.Length == 0 && kind == WellKnown.ServiceKind)
        {
            target = index.Service(targetNs, name);
        }
        else if (group == WellKnown.IstioNetworkingGroup && kind == WellKnown.ServiceEntryKind)
        {
            var hosts = index.ServiceEntry(targetNs, name);
            target = hosts.Count > 0 ? hosts[0] : null;
        }
        else
        {
            return ("InvalidKind", $"backendRef {group}/{kind} {name}: kind not supported (Service or networking.istio.io ServiceEntry).");
        }

        if (targetNs != routeNs && !index.ReferenceGranted(routeNs, targetNs, group, kind, name))
        {
            return ("RefNotPermitted", $"backendRef {kind} {targetNs}/{name}: no ReferenceGrant in '{targetNs}' allows HTTPRoutes from '{routeNs}'.");
        }

        if (target is null)
        {
            return ("BackendNotFound", $"backendRef {kind} {targetNs}/{name} not found.");
        }

        if (port is not null && target.FindPort(port.Value) is null)
        {
            return ("BackendNotFound", $"backendRef {kind} {targetNs}/{name} has no port {port}.");
        }

        return null;
    }

    /// <summary>
    /// The cluster for a backend: <c>inbound-vip</c> when the backend is bound to this waypoint, else an
    /// <c>outbound</c> cluster that reaches its pods over HBONE directly. Null when the backend is unusable.
    /// </summary>
    public string? Resolve(string routeNs, BackendObjectReference backend, int listenerPort)
    {
        var key = BackendKey.Of(routeNs, backend, listenerPort);
        if (!_resolved.TryGetValue(key, out var request))
        {
            request = Find(routeNs, backend, listenerPort);
            if (request is not null && !Requests.TryAdd(request.Name, request))
            {
                request = Requests[request.Name];
            }

            _resolved[key] = request;
        }

        return request?.Name;
    }

    /// <summary>
    /// As <see cref="Resolve"/>, without recording the cluster: safe to call from several threads once the
    /// backends were resolved with <see cref="Resolve"/>.
    /// </summary>
    public string? ResolvedName(string routeNs, BackendObjectReference backend, int listenerPort) =>
        _resolved.TryGetValue(BackendKey.Of(routeNs, backend, listenerPort), out var request)
            ? request?.Name
            : Find(routeNs, backend, listenerPort)?.Name;

    private ClusterRequest? Find(string routeNs, BackendObjectReference backend, int listenerPort)
    {
        if (Check(routeNs, backend, index) is not null)
        {
            return null;
        }

        var targetNs = backend.Namespace ?? routeNs;
        var port = backend.Port;
        var target = (backend.Group ?? "").Length == 0 && (backend.Kind ?? WellKnown.ServiceKind) == WellKnown.ServiceKind
            ? index.Service(targetNs, backend.Name)!
            : index.ServiceEntry(targetNs, backend.Name)[0];

        // backendRef port, else the only service port, else the port the request came in on.
        var servicePort = port is not null
            ? target.FindPort(port.Value)
            : target.Ports.Count == 1 ? target.Ports[0] : target.FindPort(listenerPort);
        if (servicePort is null)
        {
            return null;
        }

        var bound = catalog.BindingOf(target) == waypoint && target.Vips.Count > 0;
        var clusterName = bound ? InboundName(servicePort.Port, http: true, target.Host) : OutboundName(servicePort.Port, target.Host);
        return new ClusterRequest(clusterName, target, servicePort, Http: true);
    }

    private readonly record struct BackendKey(string RouteNamespace, string? Group, string? Kind, string Name, string? Namespace, int? Port, int ListenerPort)
    {
        public static BackendKey Of(string routeNs, BackendObjectReference backend, int listenerPort) =>
            new(routeNs, backend.Group, backend.Kind, backend.Name, backend.Namespace, backend.Port, listenerPort);
    }
}
