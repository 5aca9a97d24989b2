namespace Waypoint.Xds.Bootstrap;

/// <summary>What a waypoint Envoy's bootstrap says: who it is, where the control plane is, and local endpoints.</summary>
public sealed record EnvoyBootstrapOptions
{
    public const string DefaultSdsSocketPath = "/var/run/secrets/workload-spiffe-uds/socket";

    /// <summary>Per-pod node id, e.g. <c>waypoint-7d9f-abcde.ns</c>.</summary>
    public required string NodeId { get; init; }

    /// <summary>Node cluster = node group: <c>&lt;gateway-name&gt;.&lt;gateway-namespace&gt;</c>; replicas share it.</summary>
    public required string NodeCluster { get; init; }

    /// <summary>Node metadata (string values).</summary>
    public IReadOnlyDictionary<string, string> NodeMetadata { get; init; } = new Dictionary<string, string>();

    /// <summary>Control-plane host: an IP (STATIC cluster) or a DNS name (STRICT_DNS cluster).</summary>
    public string XdsHost { get; init; } = "127.0.0.1";

    public int XdsPort { get; init; } = XdsServerOptions.DefaultPort;

    /// <summary>
    /// The SPIFFE ID the xDS server must present (e.g. <c>spiffe://cluster.local/ns/waypoint-system/sa/waypoint-controller</c>).
    /// Set: Envoy connects over mutual TLS (ALPN h2) with the agent's SDS secrets, <c>default</c> as its client
    /// certificate and <c>ROOTCA</c> to verify the server, whose URI SAN must equal this exactly (istiod's CA issues
    /// no DNS names, so the host name is not what is checked). Null: plaintext h2c (<c>waypoint local</c>, tests).
    /// </summary>
    public string? XdsServerIdentity { get; init; }

    /// <summary>State-of-the-world (GRPC) or incremental (DELTA_GRPC) ADS.</summary>
    public XdsProtocol Protocol { get; init; } = XdsProtocol.StateOfTheWorld;

    public TimeSpan XdsConnectTimeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How long Envoy waits for the first LDS/CDS response before starting without it; null = Envoy's default (15 s).</summary>
    public TimeSpan? InitialFetchTimeout { get; init; }

    public string AdminAddress { get; init; } = "127.0.0.1";

    /// <summary>Admin port; 0 picks a free port (tests).</summary>
    public int AdminPort { get; init; } = 15000;

    /// <summary>Add the <c>sds-grpc</c> cluster (the agent's SDS socket).</summary>
    public bool IncludeSdsCluster { get; init; } = true;

    public string SdsSocketPath { get; init; } = DefaultSdsSocketPath;

    /// <summary>Port of the readiness listener serving <c>/healthz/ready</c>; null for none.</summary>
    public int? HealthPort { get; init; } = 15021;

    /// <summary>
    /// Port of the Prometheus listener: <c>/stats/prometheus</c> routed to the admin API (as Istio's 15090), so
    /// scrapers reach the stats without the admin API being exposed. Null for none. Needs a fixed <see cref="AdminPort"/>.
    /// </summary>
    public int? StatsPort { get; init; }

    /// <summary>Address of the readiness listener (all interfaces in a pod, so the kubelet can probe it).</summary>
    public string HealthAddress { get; init; } = "0.0.0.0";

    /// <summary>Buffer of the <c>envoy.bootstrap.internal_listener</c> extension.</summary>
    public uint InternalListenerBufferSizeKb { get; init; } = 64;
}
