using System.ComponentModel.DataAnnotations;

namespace Waypoint.Controller;

/// <summary>Settings of <c>waypoint controller</c> (section <c>Waypoint:Controller</c> by convention).</summary>
public sealed class WaypointControllerOptions
{
    /// <summary>
    /// The name of the GatewayClass the install creates. Informational only: a Gateway is ours when its GatewayClass's
    /// <c>spec.controllerName</c> is <see cref="ControllerName"/>, whatever the class is called (another controller may
    /// own a class of this name).
    /// </summary>
    [Required]
    public string GatewayClassName { get; set; } = "kgateway-waypoint";

    /// <summary>
    /// Our controller: GatewayClasses whose spec.controllerName is this are ours (and so their Gateways), and it is the
    /// controllerName of the route and policy statuses we write.
    /// </summary>
    [Required]
    public string ControllerName { get; set; } = "waypoint.dev/controller";

    /// <summary>The controller's own namespace (Lease, xDS Service). Defaults to $POD_NAMESPACE.</summary>
    [Required]
    public string Namespace { get; set; } = Environment.GetEnvironmentVariable("POD_NAMESPACE") is { Length: > 0 } ns ? ns : "waypoint-system";

    /// <summary>
    /// Istio's root namespace: its AuthorizationPolicies may target a GatewayClass, and its <c>istio</c> ConfigMap holds
    /// the mesh config whose <c>extensionProviders</c> CUSTOM policies name.
    /// </summary>
    [Required]
    public string IstioRootNamespace { get; set; } = "istio-system";

    /// <summary>Where waypoint Envoys reach ADS; default <c>waypoint-xds.&lt;Namespace&gt;.svc</c>.</summary>
    public string? XdsHost { get; set; }

    /// <summary>The xDS port waypoint Envoys dial: 15012 (mutual TLS), or 15010 with <see cref="XdsPlaintext"/>.</summary>
    [Range(1, 65535)]
    public int XdsPort { get; set; } = 15012;

    /// <summary>
    /// Serve xDS as plaintext h2c without authenticating Envoys (development only: any pod could read every
    /// waypoint's configuration). Default false: mutual TLS with the controller's mesh certificate.
    /// </summary>
    public bool XdsPlaintext { get; set; }

    /// <summary>The controller's own ServiceAccount (its SPIFFE identity, which waypoint Envoys pin). Defaults to $SERVICE_ACCOUNT.</summary>
    [Required]
    public string ServiceAccount { get; set; } = Environment.GetEnvironmentVariable("SERVICE_ACCOUNT") is { Length: > 0 } sa ? sa : "waypoint-controller";

    public string ClusterDomain { get; set; } = "cluster.local";

    /// <summary>SPIFFE trust domain of the mesh, passed to the waypoint agent.</summary>
    public string TrustDomain { get; set; } = "cluster.local";

    /// <summary>istiod's CA (IstioCertificateService), passed to the waypoint agent.</summary>
    public string IstioCaAddress { get; set; } = "istiod.istio-system.svc:15012";

    /// <summary>Upstream Envoy image of waypoint pods.</summary>
    [Required]
    public string EnvoyImage { get; set; } = "envoyproxy/envoy:v1.40.0";

    /// <summary>The <c>waypoint</c> image (its <c>agent</c> subcommand serves SDS beside Envoy).</summary>
    [Required]
    public string AgentImage { get; set; } = "ghcr.io/waypoint-mesh/waypoint:latest";

    public string ImagePullPolicy { get; set; } = "IfNotPresent";

    [Range(0, 1000)]
    public int DefaultReplicas { get; set; } = 1;

    /// <summary>Quiet time after the last change before a new snapshot is translated and pushed.</summary>
    public TimeSpan Debounce { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Longest a burst of changes can delay a push.</summary>
    public TimeSpan MaxDebounce { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Once the first snapshot is published, run one blocking, compacting full collection (large-object heap included)
    /// that returns the free space to the OS. The initial sync lists every object and translates every waypoint at
    /// once: that peak leaves the GC holding far more committed memory than the cache needs, and a quiet controller
    /// would keep it for a long time. One pause of a few hundred milliseconds, once, off the request path.
    /// </summary>
    public bool CompactHeapAfterFirstPublish { get; set; } = true;

    /// <summary>Every Gateway is reconciled again this often, repairing drift in objects the controller does not watch.</summary>
    public TimeSpan ResyncPeriod { get; set; } = TimeSpan.FromMinutes(10);

    [Range(1, 64)]
    public int Workers { get; set; } = 2;

    /// <summary>Restricts the Pod informer (e.g. <c>gateway.networking.k8s.io/gateway-name</c> to watch only waypoint pods); all pods by default.</summary>
    public string? PodLabelSelector { get; set; }

    /// <summary>
    /// Istio's request metrics (<c>istio_requests_total</c>, ...) from every waypoint: Envoy streams its access log
    /// entries to the agent, which serves the series on the pod's 15020 <c>/stats/prometheus</c> (docs/observability.md).
    /// </summary>
    public bool RequestMetrics { get; set; } = true;

    public LeaderElectionOptions LeaderElection { get; set; } = new();

    /// <summary>Access logs and tracing of every waypoint (WaypointParameters override them per class or Gateway).</summary>
    public WaypointTelemetrySettings Telemetry { get; set; } = new();

    internal string EffectiveXdsHost => XdsHost is { Length: > 0 } host ? host : $"waypoint-xds.{Namespace}.svc";

    /// <summary>The SPIFFE ID waypoint Envoys require of the xDS server; null over plaintext.</summary>
    internal string? XdsServerIdentity => XdsPlaintext ? null : $"spiffe://{TrustDomain}/ns/{Namespace}/sa/{ServiceAccount}";
}

/// <summary>Lease-based leader election: only the leader writes; every replica serves xDS.</summary>
public sealed class LeaderElectionOptions
{
    public bool Enabled { get; set; } = true;

    [Required]
    public string LeaseName { get; set; } = "waypoint-controller";

    /// <summary>This replica's identity in the Lease; defaults to $POD_NAME or the host name, plus a random suffix.</summary>
    [Required]
    public string Identity { get; set; } =
        (Environment.GetEnvironmentVariable("POD_NAME") is { Length: > 0 } pod ? pod : Environment.MachineName) + "_" + Guid.NewGuid().ToString("N")[..8];

    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(15);

    public TimeSpan RenewDeadline { get; set; } = TimeSpan.FromSeconds(10);

    public TimeSpan RetryPeriod { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Give the Lease up on shutdown so a successor need not wait for it to expire.</summary>
    public bool ReleaseOnCancel { get; set; } = true;
}
