using System.Net;
using Envoy.Config.Bootstrap.V3;
using Envoy.Config.Cluster.V3;
using Envoy.Config.Core.V3;
using Envoy.Config.Endpoint.V3;
using Envoy.Config.Listener.V3;
using Envoy.Config.Route.V3;
using Envoy.Extensions.Filters.Http.Router.V3;
using Envoy.Extensions.Filters.Network.HttpConnectionManager.V3;
using Envoy.Extensions.TransportSockets.Tls.V3;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Google.Protobuf.WellKnownTypes;
using Waypoint.Agent.Tls;
using UpstreamHttpProtocolOptions = Envoy.Extensions.Upstreams.Http.V3.HttpProtocolOptions;

namespace Waypoint.TestKit.Envoy;

// Waypoint.Node (a namespace, referenced through the TestKit) would otherwise hide Envoy's Node message here.
using Node = global::Envoy.Config.Core.V3.Node;

/// <summary>
/// A static Envoy bootstrap that uses the agent exactly as a waypoint does: cluster <c>sds-grpc</c> on the agent's
/// socket, an inbound mTLS listener <c>mesh</c> (<see cref="HboneTlsContexts.Downstream"/>) routing to a plain
/// backend, and optionally a plain listener <c>outbound</c> whose cluster originates TLS with
/// <see cref="HboneTlsContexts.Upstream"/>.
/// </summary>
public static class AgentEnvoyBootstrap
{
    private static readonly JsonFormatter s_json = new(JsonFormatter.Settings.Default.WithTypeRegistry(TypeRegistry.FromMessages(
        DownstreamTlsContext.Descriptor, UpstreamTlsContext.Descriptor, HttpConnectionManager.Descriptor, Router.Descriptor, UpstreamHttpProtocolOptions.Descriptor)));

    public static string Build(string socketPath, string trustDomain, IPEndPoint backend, IPEndPoint? upstreamTlsServer = null, string waypointNamespace = "apps")
    {
        var bootstrap = new Bootstrap
        {
            Node = new Node { Id = "waypoint-test~127.0.0.1~waypoint.apps~apps.svc.cluster.local", Cluster = "waypoint" },
            StaticResources = new Bootstrap.Types.StaticResources
            {
                Clusters = { HboneTlsContexts.SdsCluster(socketPath), PlainCluster("backend", backend) },
                Listeners = { HttpListener("mesh", "backend", new TransportSocket { Name = "envoy.transport_sockets.tls", TypedConfig = Any.Pack(HboneTlsContexts.Downstream(trustDomain)) }) },
            },
        };

        if (upstreamTlsServer is not null)
        {
            var cluster = PlainCluster("hbone-upstream", upstreamTlsServer);
            cluster.TransportSocket = new TransportSocket { Name = "envoy.transport_sockets.tls", TypedConfig = Any.Pack(HboneTlsContexts.Upstream(trustDomain, waypointNamespace)) };
            cluster.TypedExtensionProtocolOptions["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"] = Any.Pack(new UpstreamHttpProtocolOptions
            {
                ExplicitHttpConfig = new UpstreamHttpProtocolOptions.Types.ExplicitHttpConfig { Http2ProtocolOptions = new Http2ProtocolOptions() },
            });
            bootstrap.StaticResources.Clusters.Add(cluster);
            bootstrap.StaticResources.Listeners.Add(HttpListener("outbound", "hbone-upstream", transportSocket: null));
        }

        return s_json.Format(bootstrap);
    }

    private static Cluster PlainCluster(string name, IPEndPoint endPoint) => new()
    {
        Name = name,
        Type = Cluster.Types.DiscoveryType.Static,
        ConnectTimeout = Duration.FromTimeSpan(TimeSpan.FromSeconds(2)),
        LoadAssignment = new ClusterLoadAssignment
        {
            ClusterName = name,
            Endpoints = { new LocalityLbEndpoints { LbEndpoints = { new LbEndpoint { Endpoint = new Endpoint { Address = Socket(endPoint) } } } } },
        },
    };

    private static Listener HttpListener(string name, string cluster, TransportSocket? transportSocket)
    {
        var hcm = new HttpConnectionManager
        {
            StatPrefix = name,
            CodecType = HttpConnectionManager.Types.CodecType.Auto,
            RouteConfig = new RouteConfiguration
            {
                Name = name,
                VirtualHosts =
                {
                    new VirtualHost
                    {
                        Name = name,
                        Domains = { "*" },
                        Routes = { new Route { Match = new RouteMatch { Prefix = "/" }, Route_ = new RouteAction { Cluster = cluster } } },
                    },
                },
            },
            HttpFilters = { new HttpFilter { Name = "envoy.filters.http.router", TypedConfig = Any.Pack(new Router()) } },
        };
        var chain = new FilterChain
        {
            Filters = { new global::Envoy.Config.Listener.V3.Filter { Name = "envoy.filters.network.http_connection_manager", TypedConfig = Any.Pack(hcm) } },
        };
        if (transportSocket is not null)
        {
            chain.TransportSocket = transportSocket;
        }

        return new Listener { Name = name, Address = Socket(new IPEndPoint(IPAddress.Loopback, 0)), FilterChains = { chain } };
    }

    private static Address Socket(IPEndPoint endPoint) =>
        new() { SocketAddress = new global::Envoy.Config.Core.V3.SocketAddress { Address = endPoint.Address.ToString(), PortValue = (uint)endPoint.Port } };
}
