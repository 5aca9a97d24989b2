using Envoy.Config.Accesslog.V3;
using Envoy.Config.Cluster.V3;
using Envoy.Config.Core.V3;
using Envoy.Config.Endpoint.V3;
using Envoy.Config.Route.V3;
using Envoy.Config.Trace.V3;
using Envoy.Extensions.AccessLoggers.File.V3;
using Envoy.Extensions.Upstreams.Http.V3;
using Envoy.Type.V3;
using Google.Protobuf.WellKnownTypes;
using HcmTracing = Envoy.Extensions.Filters.Network.HttpConnectionManager.V3.HttpConnectionManager.Types.Tracing;
using UpstreamHttpOptions = Envoy.Extensions.Upstreams.Http.V3.HttpProtocolOptions;

namespace Waypoint.Translator.Internal;

/// <summary>Access logs and OpenTelemetry tracing of the waypoint's service chains (upstream Envoy extensions only).</summary>
internal static class TelemetryBuilder
{
    /// <summary>The bootstrap-free cluster Envoy exports spans to (one collector per waypoint).</summary>
    public const string CollectorClusterName = "opentelemetry-collector";

    /// <summary>
    /// Istio's default JSON access log format (<c>meshConfig.accessLogEncoding: JSON</c> with no
    /// <c>accessLogFormat</c>): the same 24 fields and command operators, so log pipelines built for Istio read ours.
    /// </summary>
    internal static readonly IReadOnlyList<(string Field, string Operator)> IstioJsonFields =
    [
        ("start_time", "%START_TIME%"),
        ("route_name", "%ROUTE_NAME%"),
        ("method", "%REQ(:METHOD)%"),
        ("path", "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%"),
        ("protocol", "%PROTOCOL%"),
        ("response_code", "%RESPONSE_CODE%"),
        ("response_flags", "%RESPONSE_FLAGS%"),
        ("response_code_details", "%RESPONSE_CODE_DETAILS%"),
        ("connection_termination_details", "%CONNECTION_TERMINATION_DETAILS%"),
        ("bytes_received", "%BYTES_RECEIVED%"),
        ("bytes_sent", "%BYTES_SENT%"),
        ("duration", "%DURATION%"),
        ("upstream_service_time", "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%"),
        ("x_forwarded_for", "%REQ(X-FORWARDED-FOR)%"),
        ("user_agent", "%REQ(USER-AGENT)%"),
        ("request_id", "%REQ(X-REQUEST-ID)%"),
        ("authority", "%REQ(:AUTHORITY)%"),
        ("upstream_host", "%UPSTREAM_HOST%"),
        ("upstream_cluster", "%UPSTREAM_CLUSTER_RAW%"),
        ("upstream_local_address", "%UPSTREAM_LOCAL_ADDRESS%"),
        ("downstream_local_address", "%DOWNSTREAM_LOCAL_ADDRESS%"),
        ("downstream_remote_address", "%DOWNSTREAM_REMOTE_ADDRESS%"),
        ("requested_server_name", "%REQUESTED_SERVER_NAME%"),
        ("upstream_transport_failure_reason", "%UPSTREAM_TRANSPORT_FAILURE_REASON%"),
    ];

    /// <summary>One shared instance: translation output is never mutated.</summary>
    private static readonly AccessLog s_stdoutJson = CreateStdoutJson();

    /// <summary>Envoy's file logger on <c>/dev/stdout</c> (what <c>kubectl logs</c> shows), one JSON object per line.</summary>
    /// <remarks>A separate <c>access_log</c> entry: others (e.g. a metrics stream to the agent) sit beside it.</remarks>
    public static AccessLog StdoutJson() => s_stdoutJson;

    private static AccessLog CreateStdoutJson()
    {
        var format = new Struct();
        foreach (var (field, op) in IstioJsonFields)
        {
            format.Fields[field] = Value.ForString(op);
        }

        var file = new FileAccessLog
        {
            Path = "/dev/stdout",
            LogFormat = new SubstitutionFormatString { JsonFormat = format },
        };
        return new AccessLog { Name = "envoy.access_loggers.file", TypedConfig = Envoy.Pack(file) };
    }

    /// <summary>
    /// The HCM's OpenTelemetry tracer: spans exported over OTLP/gRPC to <see cref="CollectorClusterName"/>, W3C
    /// <c>traceparent</c>/<c>tracestate</c> read from the request and written to the backend (the tracer's own
    /// propagation), <paramref name="serviceName"/> as the resource's <c>service.name</c>.
    /// </summary>
    public static HcmTracing Tracing(WaypointTelemetry telemetry, string serviceName)
    {
        var config = new OpenTelemetryConfig
        {
            GrpcService = new GrpcService
            {
                EnvoyGrpc = new GrpcService.Types.EnvoyGrpc
                {
                    ClusterName = CollectorClusterName,
                    Authority = Envoy.HostPort(telemetry.CollectorHost!, telemetry.CollectorPort),
                },
                Timeout = Envoy.Duration(TimeSpan.FromSeconds(5)),
            },
            ServiceName = serviceName,
        };
        return new HcmTracing
        {
            RandomSampling = new Percent { Value = telemetry.SamplingPercent },
            Provider = new global::Envoy.Config.Trace.V3.Tracing.Types.Http { Name = "envoy.tracers.opentelemetry", TypedConfig = Envoy.Pack(config) },
        };
    }

    /// <summary>
    /// Names every route's span: an HTTPRoute rule's route by its name (<c>&lt;ns&gt;.&lt;route&gt;.&lt;rule&gt;.&lt;match&gt;</c>),
    /// the default route as Istio names it (<c>&lt;host&gt;:&lt;port&gt;/*</c>).
    /// </summary>
    public static void Decorate(RouteConfiguration routes, ServiceModel service, ServicePortModel port)
    {
        foreach (var virtualHost in routes.VirtualHosts)
        {
            foreach (var route in virtualHost.Routes)
            {
                var operation = string.IsNullOrEmpty(route.Name) || route.Name == "default" ? $"{service.Host}:{port.Port}/*" : route.Name;
                route.Decorator = new Decorator { Operation = operation };
            }
        }
    }

    /// <summary>The collector: plain-text HTTP/2 (OTLP/gRPC), resolved by DNS unless it is an IP.</summary>
    public static Cluster CollectorCluster(WaypointTelemetry telemetry, TranslatorOptions options)
    {
        var host = telemetry.CollectorHost!;
        var isIp = System.Net.IPAddress.TryParse(host, out _);
        var cluster = new Cluster
        {
            Name = CollectorClusterName,
            Type = isIp ? Cluster.Types.DiscoveryType.Static : Cluster.Types.DiscoveryType.StrictDns,
            ConnectTimeout = Envoy.Duration(options.ConnectTimeout),
            LoadAssignment = new ClusterLoadAssignment
            {
                ClusterName = CollectorClusterName,
                Endpoints =
                {
                    new LocalityLbEndpoints
                    {
                        LbEndpoints = { new LbEndpoint { Endpoint = new Endpoint { Address = Envoy.SocketAddress(host, telemetry.CollectorPort) } } },
                    },
                },
            },
        };
        if (!isIp)
        {
            cluster.DnsLookupFamily = Cluster.Types.DnsLookupFamily.V4Preferred;
        }

        cluster.TypedExtensionProtocolOptions.Add("envoy.extensions.upstreams.http.v3.HttpProtocolOptions", Envoy.Pack(new UpstreamHttpOptions
        {
            ExplicitHttpConfig = new UpstreamHttpOptions.Types.ExplicitHttpConfig { Http2ProtocolOptions = new Http2ProtocolOptions() },
        }));
        return cluster;
    }
}
