using Envoy.Config.Accesslog.V3;
using Envoy.Config.Core.V3;
using Envoy.Config.Endpoint.V3;
using Envoy.Extensions.AccessLoggers.Grpc.V3;
using Envoy.Extensions.Filters.Network.HttpConnectionManager.V3;
using Envoy.Extensions.Filters.Network.TcpProxy.V3;
using Envoy.Type.Metadata.V3;
using Google.Protobuf.WellKnownTypes;
using Cluster = Envoy.Config.Cluster.V3.Cluster;
using CustomTag = Envoy.Type.Tracing.V3.CustomTag;
using UpstreamHttpProtocolOptions = Envoy.Extensions.Upstreams.Http.V3.HttpProtocolOptions;

namespace Waypoint.Telemetry.RequestMetrics;

/// <summary>
/// The Envoy side of the waypoint's Istio request metrics: an access log entry per HTTP chain and per TCP chain that
/// streams every finished request (and every TCP connection, opened and closed) over Envoy's gRPC access log service to
/// the agent on a pod-private Unix socket. The agent aggregates the entries into <c>istio_*</c> series
/// (<see cref="IstioRequestMetrics"/>). The service a chain belongs to travels as literal custom tags, the client's
/// SPIFFE ID as the <c>io.istio.peer_principal</c> filter state <c>connect_terminate</c> sets from the HBONE peer, the
/// CONNECT's <c>baggage</c> header (the source workload's peer metadata from ztunnel) as the <c>io.istio.baggage</c> one.
/// </summary>
public static class RequestMetricsEnvoyConfig
{
    public const string ClusterName = "waypoint_request_metrics";
    public const string DefaultSocketPath = "/var/run/waypoint/request-metrics.sock";

    /// <summary>The log name Envoy sends first on each stream; one for HTTP, one for TCP.</summary>
    public const string HttpLogName = "waypoint_http";
    public const string TcpLogName = "waypoint_tcp";

    /// <summary>The filter state key holding the HBONE peer's URI SAN (the source workload's SPIFFE ID).</summary>
    public const string PeerPrincipalFilterState = "io.istio.peer_principal";

    /// <summary>
    /// The filter state key holding the HBONE CONNECT's <c>baggage</c> header: the source workload's cluster, namespace,
    /// workload name, canonical service and revision as the client's ztunnel tells them (<see cref="SourceBaggage"/>).
    /// </summary>
    public const string BaggageFilterState = "io.istio.baggage";

    /// <summary>Custom tags naming the chain's service: FQDN, name, namespace.</summary>
    public const string DestinationServiceTag = "destination_service";
    public const string DestinationServiceNameTag = "destination_service_name";
    public const string DestinationServiceNamespaceTag = "destination_service_namespace";

    /// <summary>
    /// A custom tag read from the upstream host's <c>istio.workload</c> endpoint metadata (Istio's
    /// <c>workload;namespace;canonical name;canonical revision;cluster</c>, set by the translator on each pod's endpoint):
    /// the destination workload. Absent when the request reached no host or the host is no pod.
    /// </summary>
    public const string DestinationWorkloadTag = "destination_workload_metadata";

    /// <summary>How often Envoy flushes its buffered entries (Envoy's default is 1 s; Prometheus scrapes every 15 s or more).</summary>
    public static readonly TimeSpan FlushInterval = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How many bytes of entries Envoy buffers before it sends them sooner than <see cref="FlushInterval"/> (Envoy's
    /// default is 16 KiB, about 24 HTTP entries). Every message costs the agent a gRPC read and thread-pool wake-ups
    /// beyond the entries' own work, so larger batches make a loaded waypoint's metrics cheaper; the buffer only fills
    /// under load (an entry is about 700 bytes), and the interval still bounds how late an entry arrives.
    /// </summary>
    public const uint BufferSize = 256 * 1024;

    /// <summary>The destination service of a chain (a Kubernetes Service or a ServiceEntry host).</summary>
    public sealed record DestinationService(string Host, string Name, string Namespace);

    /// <summary>The access log entry of an HTTP chain's connection manager.</summary>
    public static AccessLog HttpAccessLog(DestinationService service)
    {
        ArgumentNullException.ThrowIfNull(service);
        var config = new HttpGrpcAccessLogConfig { CommonConfig = Common(HttpLogName, service) };
        // gRPC is told apart from plain HTTP by the request's content type, as Istio's request_protocol does.
        config.AdditionalRequestHeadersToLog.Add("content-type");
        return new AccessLog { Name = "envoy.access_loggers.http_grpc", TypedConfig = Any.Pack(config) };
    }

    /// <summary>The access log entry of a TCP chain's tcp_proxy.</summary>
    public static AccessLog TcpAccessLog(DestinationService service)
    {
        ArgumentNullException.ThrowIfNull(service);
        var config = new TcpGrpcAccessLogConfig { CommonConfig = Common(TcpLogName, service) };
        return new AccessLog { Name = "envoy.access_loggers.tcp_grpc", TypedConfig = Any.Pack(config) };
    }

    /// <summary>Adds the request-metrics access log to an HTTP chain's connection manager, after any other access log.</summary>
    public static void ApplyTo(HttpConnectionManager manager, DestinationService service)
    {
        ArgumentNullException.ThrowIfNull(manager);
        manager.AccessLog.Add(HttpAccessLog(service));
    }

    /// <summary>
    /// Adds the request-metrics access log to a TCP chain's tcp_proxy, flushed once when the upstream connects (that
    /// intermediate entry counts the connection as opened) and once when it closes (closed, and its bytes).
    /// </summary>
    public static void ApplyTo(TcpProxy tcpProxy, DestinationService service)
    {
        ArgumentNullException.ThrowIfNull(tcpProxy);
        tcpProxy.AccessLog.Add(TcpAccessLog(service));
        tcpProxy.AccessLogOptions ??= new TcpProxy.Types.TcpAccessLogOptions();
        tcpProxy.AccessLogOptions.FlushAccessLogOnConnected = true;
    }

    /// <summary>The HTTP/2 cluster to the agent's request-metrics socket.</summary>
    public static Cluster CreateCluster(string? socketPath = null)
    {
        var options = new UpstreamHttpProtocolOptions
        {
            ExplicitHttpConfig = new UpstreamHttpProtocolOptions.Types.ExplicitHttpConfig { Http2ProtocolOptions = new Http2ProtocolOptions() },
        };
        return new Cluster
        {
            Name = ClusterName,
            Type = Cluster.Types.DiscoveryType.Static,
            ConnectTimeout = Duration.FromTimeSpan(TimeSpan.FromSeconds(1)),
            TypedExtensionProtocolOptions = { ["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"] = Any.Pack(options) },
            LoadAssignment = new ClusterLoadAssignment
            {
                ClusterName = ClusterName,
                Endpoints =
                {
                    new LocalityLbEndpoints
                    {
                        LbEndpoints =
                        {
                            new LbEndpoint
                            {
                                Endpoint = new Endpoint { Address = new Address { Pipe = new Pipe { Path = socketPath ?? DefaultSocketPath } } },
                            },
                        },
                    },
                },
            },
        };
    }

    private static CommonGrpcAccessLogConfig Common(string logName, DestinationService service)
    {
        var common = new CommonGrpcAccessLogConfig
        {
            LogName = logName,
            TransportApiVersion = ApiVersion.V3,
            GrpcService = new GrpcService { EnvoyGrpc = new GrpcService.Types.EnvoyGrpc { ClusterName = ClusterName } },
            BufferFlushInterval = Duration.FromTimeSpan(FlushInterval),
            BufferSizeBytes = BufferSize,
        };
        common.FilterStateObjectsToLog.Add(PeerPrincipalFilterState);
        common.FilterStateObjectsToLog.Add(BaggageFilterState);
        common.CustomTags.Add(Literal(DestinationServiceTag, service.Host));
        common.CustomTags.Add(Literal(DestinationServiceNameTag, service.Name));
        common.CustomTags.Add(Literal(DestinationServiceNamespaceTag, service.Namespace));
        common.CustomTags.Add(new CustomTag
        {
            Tag = DestinationWorkloadTag,
            Metadata = new CustomTag.Types.Metadata
            {
                Kind = new MetadataKind { Host = new MetadataKind.Types.Host() },
                MetadataKey = new MetadataKey { Key = "istio", Path = { new MetadataKey.Types.PathSegment { Key = "workload" } } },
            },
        });
        return common;
    }

    private static CustomTag Literal(string tag, string value) =>
        new() { Tag = tag, Literal = new CustomTag.Types.Literal { Value = value } };
}
