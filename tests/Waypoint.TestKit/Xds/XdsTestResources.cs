using System.Net;
using Envoy.Config.Cluster.V3;
using Envoy.Config.Core.V3;
using Envoy.Config.Endpoint.V3;
using Envoy.Config.Listener.V3;
using Envoy.Config.Route.V3;
using Envoy.Extensions.Filters.Http.Router.V3;
using Envoy.Extensions.Filters.Network.HttpConnectionManager.V3;
using Google.Protobuf.WellKnownTypes;
using Waypoint.Xds;
using Filter = Envoy.Config.Listener.V3.Filter;
using SocketAddress = Envoy.Config.Core.V3.SocketAddress;

namespace Waypoint.TestKit.Xds;

/// <summary>
/// Minimal, valid xDS resources for tests: an HTTP listener on loopback (RDS over ADS), prefix routes, EDS clusters
/// and their endpoints. Enough to make a real Envoy proxy to <see cref="Http.EchoBackend"/>s.
/// </summary>
public static class XdsTestResources
{
    public const string ListenerName = "http";
    public const string RouteName = "http-routes";

    /// <summary>An HTTP listener on <paramref name="address"/>:<paramref name="port"/> (0 = any) whose routes come from RDS <paramref name="routeName"/>.</summary>
    public static Listener HttpListener(string name = ListenerName, string routeName = RouteName, int port = 0, string address = "127.0.0.1")
    {
        var manager = new HttpConnectionManager
        {
            StatPrefix = name,
            Rds = new Rds { RouteConfigName = routeName, ConfigSource = new ConfigSource { Ads = new AggregatedConfigSource(), ResourceApiVersion = ApiVersion.V3 } },
        };
        manager.HttpFilters.Add(new HttpFilter { Name = "envoy.filters.http.router", TypedConfig = Any.Pack(new Router()) });
        var chain = new FilterChain();
        chain.Filters.Add(new Filter { Name = "envoy.filters.network.http_connection_manager", TypedConfig = Any.Pack(manager) });
        var listener = new Listener
        {
            Name = name,
            Address = new Address { SocketAddress = new SocketAddress { Address = address, PortValue = (uint)port } },
        };
        listener.FilterChains.Add(chain);
        return listener;
    }

    /// <summary>A route configuration with one catch-all virtual host; routes are (path prefix → cluster), first match wins.</summary>
    public static RouteConfiguration Routes(string name, params (string Prefix, string Cluster)[] routes)
    {
        var host = new VirtualHost { Name = "all" };
        host.Domains.Add("*");
        foreach (var (prefix, cluster) in routes)
        {
            host.Routes.Add(new Route { Match = new RouteMatch { Prefix = prefix }, Route_ = new RouteAction { Cluster = cluster } });
        }

        var config = new RouteConfiguration { Name = name };
        config.VirtualHosts.Add(host);
        return config;
    }

    /// <summary>A cluster whose endpoints come from EDS over ADS.</summary>
    public static Cluster EdsCluster(string name) => new()
    {
        Name = name,
        Type = Cluster.Types.DiscoveryType.Eds,
        ConnectTimeout = Duration.FromTimeSpan(TimeSpan.FromSeconds(1)),
        EdsClusterConfig = new Cluster.Types.EdsClusterConfig
        {
            EdsConfig = new ConfigSource { Ads = new AggregatedConfigSource(), ResourceApiVersion = ApiVersion.V3 },
        },
    };

    /// <summary>Endpoints for <paramref name="clusterName"/>.</summary>
    public static ClusterLoadAssignment Endpoints(string clusterName, params IPEndPoint[] endpoints)
    {
        var locality = new LocalityLbEndpoints();
        foreach (var endPoint in endpoints)
        {
            locality.LbEndpoints.Add(new LbEndpoint
            {
                Endpoint = new Endpoint
                {
                    Address = new Address { SocketAddress = new SocketAddress { Address = endPoint.Address.ToString(), PortValue = (uint)endPoint.Port } },
                },
            });
        }

        var assignment = new ClusterLoadAssignment { ClusterName = clusterName };
        assignment.Endpoints.Add(locality);
        return assignment;
    }

    /// <summary>
    /// Listener <see cref="ListenerName"/> → routes <see cref="RouteName"/> → one EDS cluster per backend; route
    /// <c>/&lt;cluster&gt;</c> goes to that cluster and <c>/</c> to the first.
    /// </summary>
    public static XdsSnapshot HttpProxy(params (string Cluster, IPEndPoint EndPoint)[] backends)
    {
        ArgumentOutOfRangeException.ThrowIfZero(backends.Length);
        var routes = backends.Select(b => ("/" + b.Cluster, b.Cluster)).Append(("/", backends[0].Cluster)).ToArray();
        return XdsSnapshot.Create(
            [HttpListener()],
            [Routes(RouteName, routes)],
            backends.Select(b => EdsCluster(b.Cluster)),
            backends.Select(b => Endpoints(b.Cluster, b.EndPoint)));
    }
}
