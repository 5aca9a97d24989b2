using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Envoy.Config.Core.V3;
using Envoy.Config.Endpoint.V3;
using Envoy.Config.Listener.V3;
using Envoy.Config.Route.V3;
using Envoy.Extensions.Filters.Http.Router.V3;
using Envoy.Extensions.Filters.Network.HttpConnectionManager.V3;
using Envoy.Extensions.TransportSockets.Tls.V3;
using Envoy.Type.Matcher.V3;
using Waypoint.Agent.Sds;
using Waypoint.Agent.Tls;
using Google.Protobuf.WellKnownTypes;
using BootstrapConfig = Envoy.Config.Bootstrap.V3.Bootstrap;
using Cluster = Envoy.Config.Cluster.V3.Cluster;
using HealthCheck = Envoy.Extensions.Filters.Http.HealthCheck.V3.HealthCheck;
using HttpProtocolOptions = Envoy.Extensions.Upstreams.Http.V3.HttpProtocolOptions;
using SocketAddress = Envoy.Config.Core.V3.SocketAddress;
using UpstreamConnectionOptions = Envoy.Config.Cluster.V3.UpstreamConnectionOptions;
using InternalListenerConfig = Envoy.Extensions.Bootstrap.InternalListener.V3.InternalListener;

namespace Waypoint.Xds.Bootstrap;

/// <summary>
/// Builds a waypoint Envoy's bootstrap: node identity, ADS over gRPC (HTTP/2; mutual TLS when
/// <see cref="EnvoyBootstrapOptions.XdsServerIdentity"/> is set) to the control plane, the internal listener extension,
/// the <c>sds-grpc</c> cluster on the agent's Unix socket, admin on loopback and a readiness listener.
/// </summary>
public static class EnvoyBootstrapBuilder
{
    public const string XdsClusterName = "xds-grpc";
    public const string SdsClusterName = "sds-grpc";
    public const string HealthListenerName = "health";
    public const string ReadinessPath = "/healthz/ready";
    public const string StatsListenerName = "prometheus_stats";
    public const string StatsClusterName = "prometheus_stats";
    public const string PrometheusPath = "/stats/prometheus";

    /// <summary>
    /// The largest RE2 program Envoy compiles (runtime <c>re2.max_program_size.error_level</c>; Envoy's default, 100,
    /// refuses ordinary route regexes such as <c>[a-z0-9-]{1,64}</c>). The translator refuses a route whose regex may
    /// exceed it (<c>TranslatorOptions.MaxRegexProgramSize</c> has the same default), so Envoy never rejects a
    /// resource for it. 4096 instructions bound a regex's memory at a few hundred KiB of RE2 state.
    /// </summary>
    public const int MaxRegexProgramSize = 4096;

    public static BootstrapConfig Build(EnvoyBootstrapOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrEmpty(options.NodeId);
        ArgumentException.ThrowIfNullOrEmpty(options.NodeCluster);
        ArgumentException.ThrowIfNullOrEmpty(options.XdsHost);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.XdsPort);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(options.XdsPort, 65535);
        if (options.XdsServerIdentity is { } serverIdentity)
        {
            if (Waypoint.Xds.Security.XdsPeerIdentity.TryParse(serverIdentity) is null)
            {
                throw new ArgumentException($"XdsServerIdentity '{serverIdentity}' is not a SPIFFE workload ID (spiffe://<td>/ns/<ns>/sa/<sa>).", nameof(options));
            }

            if (!options.IncludeSdsCluster)
            {
                throw new ArgumentException("Mutual TLS to the xDS server takes its certificates from the agent's SDS: IncludeSdsCluster must be true.", nameof(options));
            }
        }

        var node = new Node { Id = options.NodeId, Cluster = options.NodeCluster, Metadata = new Struct() };
        foreach (var (key, value) in options.NodeMetadata)
        {
            node.Metadata.Fields[key] = Value.ForString(value);
        }

        var ads = new ApiConfigSource
        {
            ApiType = options.Protocol == XdsProtocol.Delta ? ApiConfigSource.Types.ApiType.DeltaGrpc : ApiConfigSource.Types.ApiType.Grpc,
            TransportApiVersion = ApiVersion.V3,
            SetNodeOnFirstMessageOnly = true,
        };
        ads.GrpcServices.Add(new GrpcService { EnvoyGrpc = new GrpcService.Types.EnvoyGrpc { ClusterName = XdsClusterName } });

        var bootstrap = new BootstrapConfig
        {
            Node = node,
            DynamicResources = new BootstrapConfig.Types.DynamicResources
            {
                AdsConfig = ads,
                LdsConfig = AdsSource(options.InitialFetchTimeout),
                CdsConfig = AdsSource(options.InitialFetchTimeout),
            },
            StaticResources = new BootstrapConfig.Types.StaticResources(),
            Admin = new Envoy.Config.Bootstrap.V3.Admin { Address = SocketAddressOf(options.AdminAddress, options.AdminPort) },
        };

        bootstrap.BootstrapExtensions.Add(new TypedExtensionConfig
        {
            Name = "envoy.bootstrap.internal_listener",
            TypedConfig = Any.Pack(new InternalListenerConfig { BufferSizeKb = options.InternalListenerBufferSizeKb }),
        });

        bootstrap.LayeredRuntime = Runtime();
        bootstrap.StaticResources.Clusters.Add(XdsCluster(options));
        if (options.IncludeSdsCluster)
        {
            bootstrap.StaticResources.Clusters.Add(SdsCluster(options.SdsSocketPath));
        }

        if (options.HealthPort is { } healthPort)
        {
            bootstrap.StaticResources.Listeners.Add(HealthListener(options.HealthAddress, healthPort));
        }

        if (options.StatsPort is { } statsPort)
        {
            if (options.AdminPort == 0)
            {
                throw new ArgumentException("A stats listener routes to the admin API and needs a fixed AdminPort.", nameof(options));
            }

            bootstrap.StaticResources.Listeners.Add(StatsListener(options.HealthAddress, statsPort));
            bootstrap.StaticResources.Clusters.Add(new Cluster
            {
                Name = StatsClusterName,
                Type = Cluster.Types.DiscoveryType.Static,
                ConnectTimeout = Duration.FromTimeSpan(TimeSpan.FromMilliseconds(250)),
                LoadAssignment = SingleEndpoint(StatsClusterName, SocketAddressOf(options.AdminAddress, options.AdminPort)),
            });
        }

        return bootstrap;
    }

    /// <summary>The bootstrap as JSON (proto field names), as Envoy reads with <c>-c bootstrap.json</c>.</summary>
    public static string RenderJson(BootstrapConfig bootstrap)
    {
        ArgumentNullException.ThrowIfNull(bootstrap);
        return JsonNode.Parse(XdsJson.Format(bootstrap))!.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>The bootstrap as YAML (block style), as Envoy reads with <c>-c bootstrap.yaml</c>.</summary>
    public static string RenderYaml(BootstrapConfig bootstrap)
    {
        ArgumentNullException.ThrowIfNull(bootstrap);
        var builder = new StringBuilder();
        YamlWriter.Write(builder, JsonNode.Parse(XdsJson.Format(bootstrap)), indent: 0, inSequence: false);
        return builder.ToString();
    }

    /// <summary>A static layer raising the RE2 program size limits (as Contour and Kuma do), then the admin layer.</summary>
    private static Envoy.Config.Bootstrap.V3.LayeredRuntime Runtime()
    {
        var values = new Struct();
        values.Fields["re2.max_program_size.error_level"] = Value.ForNumber(MaxRegexProgramSize);
        // Warn only above the limit too: every regex the translator accepts is within it, so there is nothing to warn about.
        values.Fields["re2.max_program_size.warn_level"] = Value.ForNumber(MaxRegexProgramSize);
        return new Envoy.Config.Bootstrap.V3.LayeredRuntime
        {
            Layers =
            {
                new Envoy.Config.Bootstrap.V3.RuntimeLayer { Name = "waypoint", StaticLayer = values },
                new Envoy.Config.Bootstrap.V3.RuntimeLayer { Name = "admin", AdminLayer = new Envoy.Config.Bootstrap.V3.RuntimeLayer.Types.AdminLayer() },
            },
        };
    }

    private static ConfigSource AdsSource(TimeSpan? initialFetchTimeout)
    {
        var source = new ConfigSource { Ads = new AggregatedConfigSource(), ResourceApiVersion = ApiVersion.V3 };
        if (initialFetchTimeout is { } timeout)
        {
            source.InitialFetchTimeout = Duration.FromTimeSpan(timeout);
        }

        return source;
    }

    private static Cluster XdsCluster(EnvoyBootstrapOptions options)
    {
        var isIp = IPAddress.TryParse(options.XdsHost, out _);
        var cluster = new Cluster
        {
            Name = XdsClusterName,
            Type = isIp ? Cluster.Types.DiscoveryType.Static : Cluster.Types.DiscoveryType.StrictDns,
            ConnectTimeout = Duration.FromTimeSpan(options.XdsConnectTimeout),
            LoadAssignment = SingleEndpoint(XdsClusterName, new Address { SocketAddress = new SocketAddress { Address = options.XdsHost, PortValue = (uint)options.XdsPort } }),
            UpstreamConnectionOptions = new UpstreamConnectionOptions { TcpKeepalive = new TcpKeepalive { KeepaliveTime = 300 } },
        };
        if (!isIp)
        {
            cluster.DnsLookupFamily = Cluster.Types.DnsLookupFamily.V4Preferred;
        }

        cluster.TypedExtensionProtocolOptions.Add("envoy.extensions.upstreams.http.v3.HttpProtocolOptions", Http2Only());
        if (options.XdsServerIdentity is { } serverIdentity)
        {
            cluster.TransportSocket = new TransportSocket { Name = "envoy.transport_sockets.tls", TypedConfig = Any.Pack(XdsClientTls(serverIdentity)) };
        }

        return cluster;
    }

    /// <summary>
    /// The Envoy side of xDS mutual TLS: its workload certificate (<c>default</c>) as client certificate, the mesh
    /// roots (<c>ROOTCA</c>) and an exact URI SAN match on the control plane's identity to verify the server. Both
    /// secrets come from the agent (waiting for them indefinitely, so Envoy never falls back to anything weaker).
    /// </summary>
    internal static UpstreamTlsContext XdsClientTls(string serverIdentity) => new()
    {
        CommonTlsContext = new CommonTlsContext
        {
            TlsParams = new TlsParameters { TlsMinimumProtocolVersion = TlsParameters.Types.TlsProtocol.Tlsv12 },
            AlpnProtocols = { "h2" },
            TlsCertificateSdsSecretConfigs = { HboneTlsContexts.SecretConfig(SdsSecrets.Default) },
            CombinedValidationContext = new CommonTlsContext.Types.CombinedCertificateValidationContext
            {
                DefaultValidationContext = new CertificateValidationContext
                {
                    MatchTypedSubjectAltNames =
                    {
                        new SubjectAltNameMatcher { SanType = SubjectAltNameMatcher.Types.SanType.Uri, Matcher = new StringMatcher { Exact = serverIdentity } },
                    },
                },
                ValidationContextSdsSecretConfig = HboneTlsContexts.SecretConfig(SdsSecrets.RootCa),
            },
        },
    };

    private static Cluster SdsCluster(string socketPath)
    {
        var cluster = new Cluster
        {
            Name = SdsClusterName,
            Type = Cluster.Types.DiscoveryType.Static,
            ConnectTimeout = Duration.FromTimeSpan(TimeSpan.FromSeconds(1)),
            LoadAssignment = SingleEndpoint(SdsClusterName, new Address { Pipe = new Pipe { Path = socketPath } }),
        };
        cluster.TypedExtensionProtocolOptions.Add("envoy.extensions.upstreams.http.v3.HttpProtocolOptions", Http2Only());
        return cluster;
    }

    private static Any Http2Only() => Any.Pack(new HttpProtocolOptions
    {
        ExplicitHttpConfig = new HttpProtocolOptions.Types.ExplicitHttpConfig { Http2ProtocolOptions = new Http2ProtocolOptions() },
    });

    private static ClusterLoadAssignment SingleEndpoint(string clusterName, Address address)
    {
        var assignment = new ClusterLoadAssignment { ClusterName = clusterName };
        var locality = new LocalityLbEndpoints();
        locality.LbEndpoints.Add(new LbEndpoint { Endpoint = new Endpoint { Address = address } });
        assignment.Endpoints.Add(locality);
        return assignment;
    }

    private static Address SocketAddressOf(string address, int port) =>
        new() { SocketAddress = new SocketAddress { Address = address, PortValue = (uint)port } };

    /// <summary>Only <c>/stats/prometheus</c> reaches the admin API; everything else answers 404.</summary>
    private static Listener StatsListener(string address, int port)
    {
        var virtualHost = new VirtualHost { Name = StatsListenerName };
        virtualHost.Domains.Add("*");
        virtualHost.Routes.Add(new Route
        {
            Match = new RouteMatch { Path = PrometheusPath },
            Route_ = new RouteAction { Cluster = StatsClusterName },
        });
        virtualHost.Routes.Add(new Route
        {
            Match = new RouteMatch { Prefix = "/" },
            DirectResponse = new DirectResponseAction { Status = 404 },
        });
        var routeConfig = new RouteConfiguration { Name = StatsListenerName };
        routeConfig.VirtualHosts.Add(virtualHost);

        var manager = new HttpConnectionManager { StatPrefix = StatsListenerName, RouteConfig = routeConfig };
        manager.HttpFilters.Add(new HttpFilter { Name = "envoy.filters.http.router", TypedConfig = Any.Pack(new Router()) });

        var chain = new FilterChain();
        chain.Filters.Add(new Filter { Name = "envoy.filters.network.http_connection_manager", TypedConfig = Any.Pack(manager) });
        var listener = new Listener { Name = StatsListenerName, Address = SocketAddressOf(address, port) };
        listener.FilterChains.Add(chain);
        return listener;
    }

    private static Listener HealthListener(string address, int port)
    {
        // Envoy starts listening only after its initial xDS fetches complete, so a 200 here means "configured".
        var healthCheck = new HealthCheck { PassThroughMode = false };
        healthCheck.Headers.Add(new HeaderMatcher { Name = ":path", StringMatch = new StringMatcher { Exact = ReadinessPath } });

        var virtualHost = new VirtualHost { Name = HealthListenerName };
        virtualHost.Domains.Add("*");
        virtualHost.Routes.Add(new Route
        {
            Match = new RouteMatch { Prefix = "/" },
            DirectResponse = new DirectResponseAction { Status = 404 },
        });
        var routeConfig = new RouteConfiguration { Name = HealthListenerName };
        routeConfig.VirtualHosts.Add(virtualHost);

        var manager = new HttpConnectionManager { StatPrefix = HealthListenerName, RouteConfig = routeConfig };
        manager.HttpFilters.Add(new HttpFilter { Name = "envoy.filters.http.health_check", TypedConfig = Any.Pack(healthCheck) });
        manager.HttpFilters.Add(new HttpFilter { Name = "envoy.filters.http.router", TypedConfig = Any.Pack(new Router()) });

        var chain = new FilterChain();
        chain.Filters.Add(new Filter { Name = "envoy.filters.network.http_connection_manager", TypedConfig = Any.Pack(manager) });
        var listener = new Listener { Name = HealthListenerName, Address = SocketAddressOf(address, port) };
        listener.FilterChains.Add(chain);
        return listener;
    }
}
