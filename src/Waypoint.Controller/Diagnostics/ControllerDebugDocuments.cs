using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Waypoint.Controller.Diagnostics;

/// <summary>
/// The documents of the controller's debug API (<c>/debug/waypoints</c>, <c>/debug/config/…</c>,
/// <c>/debug/services/…</c>) and of <c>waypoint status|config|describe</c>, which read them: one definition for both
/// ends. Every fact is projected from the translation result, the informers' caches or the xDS server's status.
/// </summary>
public static class ControllerDebugJson
{
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter() },
    };
}

/// <summary>A status condition as the API server holds it.</summary>
public sealed record DebugCondition(string Type, string Status, string? Reason, string? Message, DateTimeOffset? LastTransitionTime = null);

/// <summary><c>/debug/waypoints</c>: one replica's view of every waypoint Gateway of our class.</summary>
/// <param name="Replica">The answering controller pod (its host name).</param>
/// <param name="Leader">Whether it holds the Lease (only the leader writes status and Events).</param>
/// <param name="PublishedVersion">The controller's snapshot version the xDS server serves.</param>
public sealed record WaypointListDocument(string Replica, bool Leader, long PublishedVersion, IReadOnlyList<WaypointDebugInfo> Waypoints);

/// <param name="Ready">The Gateway's <c>Programmed</c> condition is True.</param>
/// <param name="ResourceVersion">The content version of the waypoint's xDS resources (null: nothing is served).</param>
public sealed record WaypointDebugInfo(
    string Namespace,
    string Name,
    bool Ready,
    string? ResourceVersion,
    IReadOnlyList<DebugCondition> Conditions,
    IReadOnlyList<string> Addresses,
    IReadOnlyList<BoundServiceInfo> Services,
    IReadOnlyList<AttachedObjectInfo> Routes,
    IReadOnlyList<AttachedObjectInfo> Policies,
    IReadOnlyList<ConnectedEnvoyInfo> Envoys,
    IReadOnlyList<EnvoyNackInfo> Nacks);

/// <summary>A Service (<c>ns/name</c>) or ServiceEntry host (<c>ns/name/host</c>) bound to the waypoint, with istiod's condition.</summary>
/// <param name="WaypointBound">istiod's <c>istio.io/WaypointBound</c> condition from the Service's status (null: none written).</param>
public sealed record BoundServiceInfo(string Name, DebugCondition? WaypointBound);

/// <summary>An HTTPRoute or policy attached to the waypoint and the conditions we wrote for it there.</summary>
/// <param name="Kind">HTTPRoute, TrafficPolicy, AuthorizationPolicy or RequestAuthentication.</param>
/// <param name="Parent">The parent/ancestor it attached through (<c>Service ns/name</c>, <c>Gateway ns/name</c>, ...).</param>
/// <param name="Action">An AuthorizationPolicy's action (CUSTOM, DENY, ALLOW, AUDIT).</param>
public sealed record AttachedObjectInfo(string Kind, string Namespace, string Name, string Parent, IReadOnlyList<DebugCondition> Conditions, string? Action = null);

/// <summary>An Envoy connected to this replica's xDS server.</summary>
/// <param name="Protocol">SotW or Delta.</param>
/// <param name="Acked">The last version Envoy ACKed, by short type name (lds, rds, cds, eds).</param>
/// <param name="CertificateNotAfter">Expiry of the client certificate the stream was opened with (null over plaintext).</param>
public sealed record ConnectedEnvoyInfo(
    string NodeId,
    string Protocol,
    DateTimeOffset ConnectedAt,
    IReadOnlyDictionary<string, string?> Acked,
    string? CertificateIdentity,
    DateTimeOffset? CertificateNotAfter);

/// <summary>A configuration an Envoy rejected.</summary>
public sealed record EnvoyNackInfo(DateTimeOffset Time, string NodeId, string Type, string Version, string Message);

/// <summary><c>/debug/config/{ns}/{gw}</c>: what the xDS server serves the waypoint, summarised per type.</summary>
public sealed record WaypointConfigDocument(
    string Namespace,
    string Name,
    string Version,
    IReadOnlyList<ListenerSummary> Listeners,
    IReadOnlyList<RouteConfigSummary> Routes,
    IReadOnlyList<ClusterSummary> Clusters,
    IReadOnlyList<EndpointSummary> Endpoints);

/// <param name="Address">ip:port, or <c>internal</c> for an internal listener.</param>
/// <param name="FilterChains">The filter chains' names, in order.</param>
public sealed record ListenerSummary(string Name, string Address, IReadOnlyList<string> FilterChains);

/// <param name="Routes">Route names (<c>ns.route.rule.match</c>), in the order Envoy evaluates them.</param>
public sealed record RouteConfigSummary(string Name, IReadOnlyList<string> Domains, IReadOnlyList<string> Routes);

/// <param name="Type">EDS, STATIC, STRICT_DNS, ORIGINAL_DST, ...</param>
public sealed record ClusterSummary(string Name, string Type, string? ConnectTimeout);

/// <param name="Endpoints">ip:port of every endpoint, healthy or not.</param>
public sealed record EndpointSummary(string Cluster, IReadOnlyList<string> Endpoints);

/// <summary><c>/debug/config/{ns}/{gw}/full</c>: every resource as Envoy JSON (no secrets: the controller serves none).</summary>
public sealed record WaypointFullConfigDocument(
    string Namespace,
    string Name,
    string Version,
    IReadOnlyList<JsonNode> Listeners,
    IReadOnlyList<JsonNode> Routes,
    IReadOnlyList<JsonNode> Clusters,
    IReadOnlyList<JsonNode> Endpoints);

/// <summary><c>/debug/services/{ns}/{svc}</c>: which waypoint serves a Service, and what applies, in evaluation order.</summary>
/// <param name="Waypoint"><c>ns/name</c> of the waypoint that serves it (null: none of ours).</param>
/// <param name="WaypointBound">istiod's <c>istio.io/WaypointBound</c> condition on the Service.</param>
/// <param name="Routes">Per port: the route configuration and its routes in the order Envoy matches them.</param>
/// <param name="AuthorizationPolicies">In evaluation order: CUSTOM, then DENY, then ALLOW (AUDIT only logs).</param>
/// <param name="TrafficPolicies">TrafficPolicies attached through the waypoint or the Service's routes.</param>
public sealed record ServiceDescription(
    string Namespace,
    string Name,
    string? UseWaypoint,
    string? Waypoint,
    DebugCondition? WaypointBound,
    IReadOnlyList<RouteConfigSummary> Routes,
    IReadOnlyList<AttachedObjectInfo> HttpRoutes,
    IReadOnlyList<AttachedObjectInfo> AuthorizationPolicies,
    IReadOnlyList<AttachedObjectInfo> TrafficPolicies);
