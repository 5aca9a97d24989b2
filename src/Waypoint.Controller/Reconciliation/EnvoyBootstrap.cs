using Waypoint.Xds.Bootstrap;

namespace Waypoint.Controller.Reconciliation;

/// <summary>
/// The static bootstrap of a waypoint Envoy, rendered by the xDS server's <see cref="EnvoyBootstrapBuilder"/>:
/// node.cluster <c>&lt;gateway&gt;.&lt;namespace&gt;</c> (the xDS node group; node.id comes per pod from
/// <c>--service-node</c>), ADS over gRPC to the controller's xDS Service (mutual TLS with the agent's SDS secrets,
/// pinning the controller's SPIFFE ID, unless the controller serves plaintext), <c>sds-grpc</c> on the pod-private
/// agent socket, admin on 127.0.0.1:15000, the internal-listener extension a readiness listener on :15021 and the
/// Prometheus listener on :15090.
/// </summary>
internal static class EnvoyBootstrap
{
    public const string SdsSocketDirectory = "/var/run/secrets/workload-spiffe-uds";
    public const string SdsSocketPath = EnvoyBootstrapOptions.DefaultSdsSocketPath;
    public const int HealthPort = 15021;
    public const string FileName = "envoy.json";

    public static string NodeCluster(string gateway, string ns) => $"{gateway}.{ns}";

    public static string Render(string gateway, string ns, WaypointControllerOptions options) =>
        Render(gateway, ns, options.EffectiveXdsHost, options.XdsPort, options.XdsServerIdentity);

    public static string Render(string gateway, string ns, string xdsHost, int xdsPort, string? xdsServerIdentity) =>
        EnvoyBootstrapBuilder.RenderJson(EnvoyBootstrapBuilder.Build(new EnvoyBootstrapOptions
        {
            XdsServerIdentity = xdsServerIdentity,
            // Shared by every pod of the Deployment; each Envoy overrides node.id with --service-node <pod>.<ns>.
            NodeId = NodeCluster(gateway, ns),
            NodeCluster = NodeCluster(gateway, ns),
            NodeMetadata = new Dictionary<string, string> { ["gateway"] = gateway, ["namespace"] = ns },
            XdsHost = xdsHost,
            XdsPort = xdsPort,
            XdsConnectTimeout = TimeSpan.FromSeconds(5),
            SdsSocketPath = SdsSocketPath,
            HealthPort = HealthPort,
            StatsPort = WaypointWorkload.StatsPort,
        }));
}
