using Envoy.Config.Core.V3;
using Envoy.Config.Listener.V3;
using Envoy.Config.Route.V3;
using Envoy.Extensions.Filters.Common.SetFilterState.V3;
using Envoy.Extensions.Filters.Http.Router.V3;
using Envoy.Extensions.Filters.Listener.HttpInspector.V3;
using Envoy.Extensions.Filters.Listener.OriginalDst.V3;
using Envoy.Extensions.Filters.Network.HttpConnectionManager.V3;
using Envoy.Extensions.Filters.Network.TcpProxy.V3;
using Envoy.Extensions.Matching.CommonInputs.Network.V3;
using Envoy.Extensions.TransportSockets.Tls.V3;
using Google.Protobuf.WellKnownTypes;
using Waypoint.Telemetry.RequestMetrics;
using Xds.Type.Matcher.V3;
using HttpSetFilterState = Envoy.Extensions.Filters.Http.SetFilterState.V3.Config;
using XdsExtension = Xds.Core.V3.TypedExtensionConfig;

namespace Waypoint.Translator.Internal;

/// <summary>The three waypoint listeners (design A of waypoint-xds.md §2).</summary>
internal static class ListenerBuilder
{
    /// <summary>Terminates HBONE on :15008 and streams each CONNECT to <c>main_internal</c>.</summary>
    /// <param name="options">Translator settings (TLS names, trust domain, port, extra addresses).</param>
    /// <param name="bindAddress">The address the listener binds (see <see cref="TranslatorOptions.HboneBindAddressOf"/>).</param>
    public static Listener ConnectTerminate(TranslatorOptions options, string bindAddress)
    {
        var tls = new DownstreamTlsContext
        {
            RequireClientCertificate = true,
            CommonTlsContext = Envoy.HboneTls(options, [$"spiffe://{options.TrustDomain}/"]),
        };

        var hcm = new HttpConnectionManager
        {
            StatPrefix = WellKnown.ConnectTerminate,
            RouteConfig = new RouteConfiguration
            {
                Name = "default",
                VirtualHosts =
                {
                    new VirtualHost
                    {
                        Name = "default",
                        Domains = { "*" },
                        Routes =
                        {
                            new Route
                            {
                                Name = "connect",
                                Match = new RouteMatch { ConnectMatcher = new RouteMatch.Types.ConnectMatcher() },
                                Route_ = new RouteAction
                                {
                                    Cluster = WellKnown.MainInternal,
                                    UpgradeConfigs =
                                    {
                                        new RouteAction.Types.UpgradeConfig
                                        {
                                            UpgradeType = "CONNECT",
                                            ConnectConfig = new RouteAction.Types.UpgradeConfig.Types.ConnectConfig(),
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
            },
            UpgradeConfigs = { new HttpConnectionManager.Types.UpgradeConfig { UpgradeType = "CONNECT" } },
            Http2ProtocolOptions = new Http2ProtocolOptions
            {
                AllowConnect = true,
                MaxConcurrentStreams = 100,
                ConnectionKeepalive = new KeepaliveSettings
                {
                    Interval = Envoy.Duration(TimeSpan.FromSeconds(10)),
                    Timeout = Envoy.Duration(TimeSpan.FromSeconds(20)),
                },
            },
            StreamIdleTimeout = Envoy.Duration(TimeSpan.Zero),
            UseRemoteAddress = false,
            SetCurrentClientCertDetails = new HttpConnectionManager.Types.SetCurrentClientCertDetails { Subject = true, Uri = true, Dns = true },
            HttpFilters =
            {
                new HttpFilter { Name = "connect_authority", TypedConfig = Envoy.Pack(ConnectAuthority()) },
                Router(),
            },
        };

        var listener = new Listener
        {
            Name = WellKnown.ConnectTerminate,
            Address = Envoy.SocketAddress(bindAddress, options.HboneBindPort),
            ConnectionBalanceConfig = new Listener.Types.ConnectionBalanceConfig
            {
                ExactBalance = new Listener.Types.ConnectionBalanceConfig.Types.ExactBalance(),
            },
            FilterChains =
            {
                new FilterChain
                {
                    Name = "default",
                    TransportSocket = new TransportSocket { Name = "envoy.transport_sockets.tls", TypedConfig = Envoy.Pack(tls) },
                    Filters = { new Filter { Name = "envoy.filters.network.http_connection_manager", TypedConfig = Envoy.Pack(hcm) } },
                },
            },
        };
        foreach (var extra in options.HboneAdditionalBindAddresses)
        {
            listener.AdditionalAddresses.Add(new AdditionalAddress { Address = Envoy.SocketAddress(extra, options.HboneBindPort) });
        }

        return listener;
    }

    /// <summary>
    /// Passes the CONNECT authority (VIP:port), client address, identities and <c>baggage</c> header to <c>main_internal</c>.
    /// Shared ONCE with the upstream; the io.istio.* values use a hashable factory so that CONNECTs with
    /// different authorities or peers never share an internal connection (waypoint-xds.md §7, gotcha 6).
    /// </summary>
    private static HttpSetFilterState ConnectAuthority()
    {
        var config = new HttpSetFilterState();
        config.OnRequestHeaders.Add(Value("envoy.filters.listener.original_dst.local_ip", "%REQ(:AUTHORITY)%", factory: null));
        config.OnRequestHeaders.Add(Value("io.istio.connect_authority", "%REQ(:AUTHORITY)%", WellKnown.HashableStringFactory));
        config.OnRequestHeaders.Add(Value("envoy.filters.listener.original_dst.remote_ip", "%DOWNSTREAM_REMOTE_ADDRESS%", factory: null));
        config.OnRequestHeaders.Add(Value("io.istio.peer_principal", "%DOWNSTREAM_PEER_URI_SAN%", WellKnown.HashableStringFactory));
        config.OnRequestHeaders.Add(Value("io.istio.local_principal", "%DOWNSTREAM_LOCAL_URI_SAN%", WellKnown.HashableStringFactory));
        // The source workload's peer metadata from the client's ztunnel (untrusted; the request metrics check it against
        // the peer certificate). No header, no object: the empty value is not set.
        var baggage = Value("io.istio.baggage", "%REQ(baggage)%", WellKnown.HashableStringFactory);
        baggage.FormatString.OmitEmptyValues = true;
        config.OnRequestHeaders.Add(baggage);
        return config;
    }

    private static FilterStateValue Value(string key, string format, string? factory)
    {
        var value = new FilterStateValue
        {
            ObjectKey = key,
            FormatString = new SubstitutionFormatString { TextFormatSource = new DataSource { InlineString = format } },
            SharedWithUpstream = FilterStateValue.Types.SharedWithUpstream.Once,
        };
        if (factory is not null)
        {
            value.FactoryKey = factory;
        }

        return value;
    }

    private static readonly ConfigSource s_ads = new() { Ads = new AggregatedConfigSource(), ResourceApiVersion = ApiVersion.V3 };
    private static readonly HttpFilter s_router = new() { Name = "envoy.filters.http.router", TypedConfig = Envoy.Pack(new Router()) };
    private static readonly XdsExtension s_portInput = new() { Name = "port", TypedConfig = Envoy.Pack(new DestinationPortInput()) };
    private static readonly XdsExtension s_applicationProtocolInput = new() { Name = "application-protocol", TypedConfig = Envoy.Pack(new ApplicationProtocolInput()) };

    /// <summary>The destination-IP input of <c>main_internal</c>'s chain matcher.</summary>
    internal static XdsExtension IpInput { get; } = new() { Name = "ip", TypedConfig = Envoy.Pack(new DestinationIPInput()) };

    public static HttpFilter Router() => s_router;

    /// <summary>Opens a new HBONE tunnel per endpoint: CONNECT <c>podIP:targetPort</c> to <c>podIP:15008</c>.</summary>
    public static Listener ConnectOriginate() => new()
    {
        Name = WellKnown.ConnectOriginate,
        InternalListener = new Listener.Types.InternalListenerConfig(),
        UseOriginalDst = false,
        ListenerFilters = { OriginalDst() },
        FilterChains =
        {
            new FilterChain
            {
                Name = WellKnown.ConnectOriginate,
                Filters =
                {
                    new Filter
                    {
                        Name = "envoy.filters.network.tcp_proxy",
                        TypedConfig = Envoy.Pack(new TcpProxy
                        {
                            StatPrefix = WellKnown.ConnectOriginate,
                            Cluster = WellKnown.ConnectOriginate,
                            TunnelingConfig = new TcpProxy.Types.TunnelingConfig { Hostname = "%DOWNSTREAM_LOCAL_ADDRESS%" },
                        }),
                    },
                },
            },
        },
    };

    private static ListenerFilter OriginalDst() =>
        new() { Name = "envoy.filters.listener.original_dst", TypedConfig = Envoy.Pack(new OriginalDst()) };

    /// <summary>
    /// An HTTP chain: HCM whose routes come over RDS on the ADS stream, so a route edit changes only the
    /// RouteConfiguration <paramref name="routeConfigName"/> and never this chain (an in-place filter-chain update
    /// would drain the chain and reset the HBONE tunnels on it).
    /// </summary>
    /// <param name="authorization">The authentication and authorization filters, to go first (RBAC policies come with the routes).</param>
    /// <param name="telemetry">The waypoint's access log and tracing settings (both off by default).</param>
    /// <param name="waypointName">The waypoint (<c>&lt;name&gt;.&lt;namespace&gt;</c>): the tracer's service name.</param>
    /// <param name="requestMetrics">The chain's service, when Envoy counts its requests as Istio's request metrics.</param>
    public static FilterChain HttpChain(string chainName, ServicePortModel port, string routeConfigName, bool transformation = false, IReadOnlyList<HttpFilter>? authorization = null, WaypointTelemetry telemetry = default, string? waypointName = null, RequestMetricsEnvoyConfig.DestinationService? requestMetrics = null)
    {
        var hcm = new HttpConnectionManager
        {
            StatPrefix = $"inbound_0.0.0.0_{port.Port}",
            Rds = new Rds { RouteConfigName = routeConfigName, ConfigSource = s_ads },
            UseRemoteAddress = false,
            NormalizePath = true,
            StreamIdleTimeout = Envoy.Duration(TimeSpan.Zero),
            UpgradeConfigs = { new HttpConnectionManager.Types.UpgradeConfig { UpgradeType = "websocket" } },
            HttpFilters = { Router() },
        };
        if (telemetry.AccessLogs)
        {
            hcm.AccessLog.Add(TelemetryBuilder.StdoutJson());
        }

        if (telemetry.Tracing)
        {
            hcm.Tracing = TelemetryBuilder.Tracing(telemetry, waypointName ?? chainName);
        }

        if (transformation)
        {
            // Disabled by default; only routes whose TrafficPolicy needs the transformation service enable it.
            hcm.HttpFilters.Insert(hcm.HttpFilters.Count - 1, Waypoint.Transformation.Compilation.TransformationEnvoyConfig.CreateHttpFilter());
        }

        if (authorization is not null)
        {
            // Before anything that acts on the request (transformation included): a denied request goes no further.
            for (var i = 0; i < authorization.Count; i++)
            {
                hcm.HttpFilters.Insert(i, authorization[i]);
            }
        }

        if (requestMetrics is not null)
        {
            RequestMetricsEnvoyConfig.ApplyTo(hcm, requestMetrics);
        }

        return new FilterChain
        {
            Name = chainName,
            Filters = { new Filter { Name = "envoy.filters.network.http_connection_manager", TypedConfig = Envoy.Pack(hcm) } },
        };
    }

    /// <summary>A TCP chain: the service's network RBAC filters if any AuthorizationPolicy applies, then tcp_proxy to its TCP cluster.</summary>
    /// <param name="accessLogs">Istio's JSON access log, one line per connection (HTTP fields are empty).</param>
    /// <param name="requestMetrics">The chain's service, when Envoy counts its connections as Istio's TCP metrics.</param>
    /// <param name="port">The service port the chain serves (its filter-chain match), which lets DENY and ALLOW share one RBAC engine.</param>
    public static FilterChain TcpChain(string chainName, string cluster, int port, IReadOnlyList<Authorization.CompiledAuthorizationPolicy>? authorization = null, bool accessLogs = false, RequestMetricsEnvoyConfig.DestinationService? requestMetrics = null)
    {
        var chain = new FilterChain { Name = chainName };
        if (authorization is { Count: > 0 })
        {
            chain.Filters.AddRange(Authorization.AuthorizationFilters.NetworkFilters(authorization, port));
        }

        var tcpProxy = new TcpProxy { StatPrefix = cluster, Cluster = cluster };
        if (accessLogs)
        {
            tcpProxy.AccessLog.Add(TelemetryBuilder.StdoutJson());
        }

        if (requestMetrics is not null)
        {
            RequestMetricsEnvoyConfig.ApplyTo(tcpProxy, requestMetrics);
        }

        chain.Filters.Add(new Filter { Name = "envoy.filters.network.tcp_proxy", TypedConfig = Envoy.Pack(tcpProxy) });
        return chain;
    }

    /// <summary>Port → chain map of one service (the inner level of the chain matcher).</summary>
    public static Matcher.Types.OnMatch PortMatcher(IEnumerable<(ServicePortModel Port, string? HttpChain, string? TcpChain)> ports)
    {
        var map = new Matcher.Types.MatcherTree.Types.MatchMap();
        foreach (var (port, httpChain, tcpChain) in ports)
        {
            Matcher.Types.OnMatch onMatch;
            if (httpChain is not null && tcpChain is not null)
            {
                // Undeclared protocol: http_inspector decides; anything that is not HTTP is TCP.
                var appProtocols = new Matcher.Types.MatcherTree.Types.MatchMap();
                appProtocols.Map.Add("'h2c'", ChainAction(httpChain));
                appProtocols.Map.Add("'http/1.1'", ChainAction(httpChain));
                onMatch = new Matcher.Types.OnMatch
                {
                    Matcher = new Matcher
                    {
                        MatcherTree = new Matcher.Types.MatcherTree
                        {
                            Input = s_applicationProtocolInput,
                            ExactMatchMap = appProtocols,
                        },
                        OnNoMatch = ChainAction(tcpChain),
                    },
                };
            }
            else
            {
                onMatch = ChainAction(httpChain ?? tcpChain!);
            }

            map.Map.Add(port.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), onMatch);
        }

        return new Matcher.Types.OnMatch
        {
            Matcher = new Matcher
            {
                MatcherTree = new Matcher.Types.MatcherTree
                {
                    Input = s_portInput,
                    ExactMatchMap = map,
                },
            },
        };
    }

    private static Matcher.Types.OnMatch ChainAction(string chain) => new()
    {
        Action = new XdsExtension { Name = chain, TypedConfig = Envoy.Pack(new StringValue { Value = chain }) },
    };

    public static IPMatcher.Types.IPRangeMatcher RangeMatcher(IEnumerable<string> vips, Matcher.Types.OnMatch portMatcher)
    {
        var range = new IPMatcher.Types.IPRangeMatcher { OnMatch = portMatcher };
        foreach (var vip in vips)
        {
            var ip = System.Net.IPAddress.Parse(vip);
            range.Ranges.Add(new Xds.Core.V3.CidrRange
            {
                AddressPrefix = ip.ToString(),
                PrefixLen = ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? 128u : 32u,
            });
        }

        return range;
    }

    /// <summary>
    /// The listener shell of <c>main_internal</c>: original destination restored from filter state, http_inspector
    /// only where some port's protocol is undeclared (disabled on ports that are declared everywhere).
    /// </summary>
    public static Listener MainInternalShell(IReadOnlyCollection<int> sniffedPorts, IReadOnlyCollection<int> declaredOnlyPorts)
    {
        var listener = new Listener
        {
            Name = WellKnown.MainInternal,
            InternalListener = new Listener.Types.InternalListenerConfig(),
            UseOriginalDst = false,
            TrafficDirection = TrafficDirection.Inbound,
            ListenerFilters = { OriginalDst() },
        };

        if (sniffedPorts.Count > 0)
        {
            var inspector = new ListenerFilter { Name = "envoy.filters.listener.http_inspector", TypedConfig = Envoy.Pack(new HttpInspector()) };
            if (declaredOnlyPorts.Count > 0)
            {
                var rules = declaredOnlyPorts.Order().Select(p => new ListenerFilterChainMatchPredicate
                {
                    DestinationPortRange = new global::Envoy.Type.V3.Int32Range { Start = p, End = p + 1 },
                }).ToList();
                inspector.FilterDisabled = rules.Count == 1
                    ? rules[0]
                    : new ListenerFilterChainMatchPredicate { OrMatch = new ListenerFilterChainMatchPredicate.Types.MatchSet { Rules = { rules } } };
            }

            listener.ListenerFilters.Add(inspector);
        }

        return listener;
    }

    /// <summary>The chain matcher: destination IP (one range matcher per service) → destination port → chain.</summary>
    /// <param name="ipMatcher">The packed <c>xds.type.matcher.v3.IPMatcher</c>.</param>
    public static Matcher ChainMatcher(Any ipMatcher) => new()
    {
        MatcherTree = new Matcher.Types.MatcherTree
        {
            Input = IpInput,
            CustomMatch = new XdsExtension { Name = "ip", TypedConfig = ipMatcher },
        },
    };
}
