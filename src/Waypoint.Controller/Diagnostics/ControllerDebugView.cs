using Envoy.Config.Cluster.V3;
using Envoy.Config.Core.V3;
using k8s.Models;
using Waypoint.Controller.Client;
using Waypoint.Transformation.Model;
using Waypoint.Translator;
using Waypoint.Translator.Model;
using Waypoint.Xds;
using Waypoint.Xds.Diagnostics;

namespace Waypoint.Controller.Diagnostics;

/// <summary>
/// Projects what the controller already decided (the last published translation, the informers' caches, the xDS
/// server's status) into the debug documents. Decides nothing of its own.
/// </summary>
internal sealed class ControllerDebugView(WaypointController controller, XdsServerStatus? xdsStatus, WaypointControllerOptions options)
{
    /// <summary>istiod's condition on a Service bound to a waypoint (pilot/pkg/model/conditions.go).</summary>
    public const string WaypointBoundCondition = "istio.io/WaypointBound";

    private const int NacksPerWaypoint = 10;

    public WaypointListDocument Waypoints(string? ns)
    {
        var translation = controller.Latest?.Translation ?? TranslationResult.Empty;
        var waypoints = translation.Gateways
            .Where(g => translation.Waypoints.ContainsKey(g.Key) && (ns is null || g.Key.Namespace == ns))
            .Select(g => Describe(translation, g))
            .ToList();
        return new WaypointListDocument(Environment.MachineName, controller.IsLeader, controller.PublishedVersion, waypoints);
    }

    public WaypointConfigDocument? Config(WaypointKey key)
    {
        if (Resources(key) is not { } resources)
        {
            return null;
        }

        return new WaypointConfigDocument(
            key.Namespace,
            key.Name,
            resources.Version,
            resources.Listeners.Select(l => new ListenerSummary(l.Name, Address(l.Address), l.FilterChains.Select(c => c.Name).ToList())).ToList(),
            resources.Routes.Select(Summarize).ToList(),
            resources.Clusters.Select(c => new ClusterSummary(c.Name, ClusterType(c), c.ConnectTimeout?.ToTimeSpan().TotalSeconds is { } s ? $"{s:0.###}s" : null)).ToList(),
            resources.Endpoints.Select(e => new EndpointSummary(e.ClusterName, e.Endpoints.SelectMany(l => l.LbEndpoints).Select(l => Address(l.Endpoint?.Address)).ToList())).ToList());
    }

    /// <summary>The resources exactly as the xDS server sends them, rendered as Envoy's config_dump would.</summary>
    public WaypointFullConfigDocument? FullConfig(WaypointKey key)
    {
        if (Resources(key) is not { } resources)
        {
            return null;
        }

        return new WaypointFullConfigDocument(
            key.Namespace,
            key.Name,
            resources.Version,
            resources.Listeners.Select(l => EnvoyJson.ToNode(l)).ToList(),
            resources.Routes.Select(r => EnvoyJson.ToNode(r)).ToList(),
            resources.Clusters.Select(c => EnvoyJson.ToNode(c)).ToList(),
            resources.Endpoints.Select(e => EnvoyJson.ToNode(e)).ToList());
    }

    public ServiceDescription? Service(string ns, string name)
    {
        if (!controller.State.Services.TryGet(new NamespacedName(ns, name), out var service))
        {
            return null;
        }

        var translation = controller.Latest?.Translation ?? TranslationResult.Empty;
        var serviceName = $"{ns}/{name}";
        var gateway = translation.Gateways.FirstOrDefault(g => translation.Waypoints.ContainsKey(g.Key) && g.BoundServices.Contains(serviceName, StringComparer.Ordinal));
        var useWaypoint = UseWaypoint(service.Metadata.Labels)
            ?? (controller.State.Namespaces.TryGet(new NamespacedName("", ns), out var namespaceObject) ? UseWaypoint(namespaceObject.Metadata.Labels) : null);
        var bound = WaypointBound(service);
        if (gateway is null)
        {
            return new ServiceDescription(ns, name, useWaypoint, null, bound, [], [], [], []);
        }

        var resources = translation.Waypoints[gateway.Key];
        var hostSuffix = $"|{name}.{ns}.svc.{options.ClusterDomain}";
        var routeConfigs = RoutesEndingWith(resources, hostSuffix).Select(Summarize).ToList();
        var parents = new HashSet<string>(StringComparer.Ordinal) { $"Service {serviceName}", $"Gateway {gateway.Key.Namespace}/{gateway.Key.Name}" };
        var routes = AttachedRoutes(translation, parents).ToList();
        var policyParents = new HashSet<string>(parents, StringComparer.Ordinal);
        policyParents.UnionWith(routes.Select(r => $"HTTPRoute {r.Namespace}/{r.Name}"));
        var policies = AttachedPolicies(translation, policyParents).ToList();
        var authorization = policies.Where(p => p.Kind == V1AuthorizationPolicy.KubeKind)
            .OrderBy(p => ActionOrder(p.Action)).ThenBy(p => p.Namespace, StringComparer.Ordinal).ThenBy(p => p.Name, StringComparer.Ordinal)
            .ToList();
        var trafficPolicies = policies.Where(p => p.Kind == "TrafficPolicy").ToList();
        return new ServiceDescription(ns, name, useWaypoint, $"{gateway.Key.Namespace}/{gateway.Key.Name}", bound, routeConfigs, routes, authorization, trafficPolicies);
    }

    private WaypointResources? Resources(WaypointKey key) =>
        controller.Latest?.Translation.Waypoints.TryGetValue(key, out var resources) == true ? resources : null;

    private WaypointDebugInfo Describe(TranslationResult translation, GatewayStatusResult computed)
    {
        var key = computed.Key;
        controller.State.Gateways.TryGet(new NamespacedName(key.Namespace, key.Name), out var gateway);
        var conditions = (gateway?.Status?.Conditions ?? []).Select(Condition).ToList();
        var services = computed.BoundServices.Select(s =>
        {
            var parts = s.Split('/');
            V1Service? service = null;
            var isService = parts.Length == 2 && controller.State.Services.TryGet(new NamespacedName(parts[0], parts[1]), out service);
            return new BoundServiceInfo(s, isService ? WaypointBound(service!) : null);
        }).ToList();
        var parents = new HashSet<string>(StringComparer.Ordinal) { $"Gateway {key.Namespace}/{key.Name}" };
        parents.UnionWith(computed.BoundServices.Select(s => s.Count(c => c == '/') == 1 ? $"Service {s}" : $"ServiceEntry {s[..s.LastIndexOf('/')]}"));
        var routes = AttachedRoutes(translation, parents).ToList();
        parents.UnionWith(routes.Select(r => $"HTTPRoute {r.Namespace}/{r.Name}"));
        var nodeGroup = key.ToString();
        var envoys = (xdsStatus?.GetStreams() ?? []).Where(s => s.NodeGroup == nodeGroup).Select(s => new ConnectedEnvoyInfo(
            s.NodeId,
            s.Protocol == XdsProtocol.Delta ? "Delta" : "SotW",
            s.ConnectedAt,
            s.Types.ToDictionary(t => XdsTypeUrls.ShortName(t.TypeUrl), t => t.LastAckedVersion, StringComparer.Ordinal),
            s.ClientCertificate?.Identity,
            s.ClientCertificate?.NotAfter)).ToList();
        var nacks = (xdsStatus?.GetNacks() ?? []).Where(n => n.NodeGroup == nodeGroup).TakeLast(NacksPerWaypoint)
            .Select(n => new EnvoyNackInfo(n.Time, n.NodeId, XdsTypeUrls.ShortName(n.TypeUrl), n.Version, n.ErrorMessage)).ToList();
        return new WaypointDebugInfo(
            key.Namespace,
            key.Name,
            conditions.Any(c => c.Type == "Programmed" && c.Status == "True"),
            translation.Waypoints[key].Version,
            conditions,
            (gateway?.Status?.Addresses ?? []).Select(a => a.Value).ToList(),
            services,
            routes,
            AttachedPolicies(translation, parents).ToList(),
            envoys,
            nacks);
    }

    /// <summary>HTTPRoutes whose parent entries (ours) name one of <paramref name="parents"/> (<c>Kind ns/name</c>).</summary>
    private static IEnumerable<AttachedObjectInfo> AttachedRoutes(TranslationResult translation, HashSet<string> parents)
    {
        foreach (var route in translation.Routes)
        {
            foreach (var parent in route.Parents)
            {
                var name = $"{parent.ParentRef.Kind ?? "Gateway"} {parent.ParentRef.Namespace ?? route.Namespace}/{parent.ParentRef.Name}";
                if (parents.Contains(name))
                {
                    yield return new AttachedObjectInfo("HTTPRoute", route.Namespace, route.Name, name, parent.Conditions.Select(Condition).ToList());
                }
            }
        }
    }

    private IEnumerable<AttachedObjectInfo> AttachedPolicies(TranslationResult translation, HashSet<string> parents)
    {
        IEnumerable<AttachedObjectInfo> Of(string kind, string ns, string name, IEnumerable<PolicyAncestorStatus> ancestors, string? action = null) =>
            ancestors
                .Select(a => (Ancestor: a, Parent: $"{a.AncestorRef.Kind ?? "Gateway"} {a.AncestorRef.Namespace ?? ns}/{a.AncestorRef.Name}"))
                .Where(a => parents.Contains(a.Parent))
                .Select(a => new AttachedObjectInfo(kind, ns, name, a.Parent, a.Ancestor.Conditions.Select(Condition).ToList(), action));

        foreach (var policy in translation.Policies)
        {
            foreach (var attached in Of("TrafficPolicy", policy.Namespace, policy.Name, policy.Ancestors))
            {
                yield return attached;
            }
        }

        foreach (var policy in translation.AuthorizationPolicies)
        {
            var action = controller.State.AuthorizationPolicies.TryGet(new NamespacedName(policy.Namespace, policy.Name), out var source)
                ? source.Spec?.Action ?? "ALLOW"
                : null;
            foreach (var attached in Of(V1AuthorizationPolicy.KubeKind, policy.Namespace, policy.Name, policy.Ancestors, action))
            {
                yield return attached;
            }
        }

        foreach (var policy in translation.RequestAuthentications)
        {
            foreach (var attached in Of("RequestAuthentication", policy.Namespace, policy.Name, policy.Ancestors))
            {
                yield return attached;
            }
        }
    }

    private static string? UseWaypoint(IDictionary<string, string>? labels) =>
        labels is not null && labels.TryGetValue("istio.io/use-waypoint", out var value) ? value : null;

    private static DebugCondition? WaypointBound(V1Service service) =>
        service.Status?.Conditions?.FirstOrDefault(c => c.Type == WaypointBoundCondition) is { } condition ? Condition(condition) : null;

    private static DebugCondition Condition(V1Condition c) =>
        new(c.Type, c.Status, NullIfEmpty(c.Reason), NullIfEmpty(c.Message), c.LastTransitionTime is { } t ? new DateTimeOffset(DateTime.SpecifyKind(t, DateTimeKind.Utc)) : null);

    private static string? NullIfEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;

    /// <summary>Istio's evaluation order: CUSTOM, DENY, ALLOW (AUDIT does not decide).</summary>
    private static int ActionOrder(string? action) => action switch
    {
        "CUSTOM" => 0,
        "DENY" => 1,
        "ALLOW" => 2,
        _ => 3,
    };

    private static RouteConfigSummary Summarize(Envoy.Config.Route.V3.RouteConfiguration routes) => new(
        routes.Name,
        routes.VirtualHosts.SelectMany(v => v.Domains).Distinct().ToList(),
        routes.VirtualHosts.SelectMany(v => v.Routes).Select(r => r.Name).ToList());

    private static string ClusterType(Cluster cluster) =>
        cluster.ClusterDiscoveryTypeCase == Cluster.ClusterDiscoveryTypeOneofCase.ClusterType
            ? cluster.ClusterType.Name
            : cluster.Type.ToString().ToUpperInvariant();

    private static string Address(Address? address) => address switch
    {
        { SocketAddress: { } socket } => $"{socket.Address}:{socket.PortValue}",
        { EnvoyInternalAddress: { } internalAddress } => $"internal:{internalAddress.ServerListenerName}",
        { Pipe: { } pipe } => $"unix:{pipe.Path}",
        _ => "internal",
    };

    /// <summary>The waypoint's RouteConfigurations whose names end with <paramref name="suffix"/>, decoding only those.</summary>
    private static IEnumerable<Envoy.Config.Route.V3.RouteConfiguration> RoutesEndingWith(WaypointResources resources, string suffix) =>
        resources.Encoded.Count == 0
            ? resources.Routes.Where(r => r.Name.EndsWith(suffix, StringComparison.Ordinal))
            : resources.Encoded
                .Where(e => e.TypeUrl == XdsTypeUrls.RouteConfiguration && e.Name.EndsWith(suffix, StringComparison.Ordinal))
                .Select(e => (Envoy.Config.Route.V3.RouteConfiguration)e.Message);
}
