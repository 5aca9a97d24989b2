namespace Waypoint.Xds;

/// <summary>The xDS v3 type URLs Waypoint serves, and the order in which ADS pushes them.</summary>
public static class XdsTypeUrls
{
    public const string Listener = "type.googleapis.com/envoy.config.listener.v3.Listener";
    public const string RouteConfiguration = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";
    public const string Cluster = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
    public const string ClusterLoadAssignment = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";
    public const string Secret = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";

    /// <summary>
    /// Push order when several types change at once, following the xDS protocol's "eventual consistency
    /// considerations": secrets and clusters first, then their endpoints, then listeners, then the routes
    /// those listeners name. Envoy warms clusters until EDS arrives and listeners until RDS arrives.
    /// </summary>
    public static IReadOnlyList<string> PushOrder { get; } = [Secret, Cluster, ClusterLoadAssignment, Listener, RouteConfiguration];

    /// <summary>True for the type URLs in <see cref="PushOrder"/>.</summary>
    public static bool IsKnown(string typeUrl) => IndexOf(typeUrl) >= 0;

    /// <summary>
    /// True when a state-of-the-world response must carry every resource of the type (a missing one is deleted):
    /// listeners and clusters. Other types are sent per name and omission means "unchanged".
    /// </summary>
    public static bool IsStateOfTheWorldComplete(string typeUrl) => typeUrl is Listener or Cluster;

    internal static int IndexOf(string typeUrl) => typeUrl switch
    {
        Secret => 0,
        Cluster => 1,
        ClusterLoadAssignment => 2,
        Listener => 3,
        RouteConfiguration => 4,
        _ => -1,
    };

    /// <summary>A short label for logs and metric tags: lds, rds, cds, eds, sds.</summary>
    public static string ShortName(string typeUrl) => typeUrl switch
    {
        Listener => "lds",
        RouteConfiguration => "rds",
        Cluster => "cds",
        ClusterLoadAssignment => "eds",
        Secret => "sds",
        _ => "_OTHER",
    };
}
