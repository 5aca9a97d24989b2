namespace Waypoint.Translator;

/// <summary>Settings of the waypoint translator.</summary>
/// <remarks>Defaults match a stock Istio ambient install and the design note (docs/translator.md).</remarks>
public sealed record TranslatorOptions
{
    /// <summary>SPIFFE trust domain of the mesh.</summary>
    public string TrustDomain { get; init; } = "cluster.local";

    /// <summary>Kubernetes cluster DNS domain: Service hosts are <c>name.ns.svc.&lt;domain&gt;</c>.</summary>
    public string ClusterDomain { get; init; } = "cluster.local";

    /// <summary>
    /// Our controller: Gateways whose GatewayClass names it (<c>spec.controllerName</c>) are our waypoints, and it is
    /// the controllerName of the statuses we write. A class name alone never makes a Gateway ours.
    /// </summary>
    public string ControllerName { get; init; } = "waypoint.dev/controller";

    /// <summary>Istio's root namespace: its AuthorizationPolicies may target a GatewayClass (all its waypoints).</summary>
    public string IstioRootNamespace { get; init; } = "istio-system";

    /// <summary>CA bundle Envoy verifies https <c>jwksUri</c> servers against (RequestAuthentication).</summary>
    public string JwksTrustedCaFile { get; init; } = "/etc/ssl/certs/ca-certificates.crt";

    /// <summary>Bootstrap cluster that serves SDS (provided by the bootstrap, not by the translator).</summary>
    public string SdsClusterName { get; init; } = "sds-grpc";

    /// <summary>SDS name of the workload certificate and key.</summary>
    public string CertificateSecretName { get; init; } = "default";

    /// <summary>SDS name of the trust bundle.</summary>
    public string RootCaSecretName { get; init; } = "ROOTCA";

    /// <summary>Address the HBONE listener binds (the pod's wildcard by default).</summary>
    public string HboneBindAddress { get; init; } = "0.0.0.0";

    /// <summary>
    /// The address the HBONE listener of one waypoint binds, when it is not <see cref="HboneBindAddress"/>: the local
    /// rig runs every waypoint Envoy on the same host, each on its own loopback address. Null (the default, as in a
    /// pod) or a null answer means <see cref="HboneBindAddress"/>. Must answer the same for the same key.
    /// </summary>
    public Func<WaypointKey, string?>? HboneBindAddressOf { get; init; }

    /// <summary>Extra addresses of the HBONE listener, e.g. <c>::</c> on dual-stack pods.</summary>
    public IReadOnlyList<string> HboneAdditionalBindAddresses { get; init; } = [];

    /// <summary>Port the HBONE listener binds; 15008 in a pod (tests may use 0).</summary>
    public int HboneBindPort { get; init; } = 15008;

    /// <summary>Idle timeout of outbound HBONE tunnels (mesh <c>hboneIdleTimeout</c>).</summary>
    public TimeSpan HboneIdleTimeout { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Upstream connect timeout of service clusters.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Kubernetes cluster id used in endpoint <c>istio.workload</c> metadata.</summary>
    public string ClusterId { get; init; } = "Kubernetes";

    /// <summary>
    /// Unix socket of the TrafficPolicy transformation service (the agent's ext_proc server, in an emptyDir shared with
    /// Envoy). Referenced only when some route's transformation needs the service.
    /// </summary>
    public string TransformationSocketPath { get; init; } = Waypoint.Transformation.Compilation.TransformationExtProc.DefaultSocketPath;

    /// <summary>
    /// Istio's request metrics: every HTTP and TCP chain counts its requests and connections into tagged stats with
    /// Envoy's stats access logger, which the agent renders as <c>istio_*</c> series when scraped (docs/observability.md).
    /// </summary>
    public bool RequestMetrics { get; init; }

    /// <summary>
    /// The largest RE2 program a route regex may compile to: the waypoint bootstrap's
    /// <c>re2.max_program_size.error_level</c> (<c>EnvoyBootstrapBuilder.MaxRegexProgramSize</c>, 4096). A route with a
    /// regex that may exceed it (by a conservative estimate) is not Accepted, so Envoy never rejects it.
    /// </summary>
    public int MaxRegexProgramSize { get; init; } = 4096;

    /// <summary>
    /// Access logs and tracing of every waypoint, unless its WaypointParameters (<c>spec.telemetry</c>) override them
    /// (Helm values <c>accessLogs.*</c> and <c>tracing.*</c>). Off by default.
    /// </summary>
    public Telemetry.TelemetryOptions Telemetry { get; init; } = new();

    /// <summary>
    /// How many threads may build changed chains, clusters and load assignments at once (default: one per
    /// processor). Translation output does not depend on it.
    /// </summary>
    public int Parallelism { get; init; } = Environment.ProcessorCount;

    /// <summary>Test seam: runs before each waypoint is built, so a test can make one waypoint's translation fail.</summary>
    internal Action<WaypointKey>? BeforeWaypoint { get; init; }
}
