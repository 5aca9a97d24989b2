using System.Net;
using Envoy.Config.Core.V3;
using Envoy.Config.Listener.V3;
using Envoy.Config.Route.V3;
using Envoy.Extensions.Filters.Network.HttpConnectionManager.V3;
using Google.Protobuf.WellKnownTypes;

namespace Waypoint.Local.Waypoint;

/// <summary>
/// Adapts the translator's per-waypoint listeners to the one-machine rig, on copies (translation output is shared
/// and never mutated).
/// </summary>
/// <remarks>
/// <para>Bind address: the translator binds HBONE on the pod wildcard; here each waypoint binds its own loopback IP.</para>
/// <para>Routes over RDS: the translator inlines each service chain's route configuration in its HCM, so any route
/// edit changes the listener and Envoy drains that filter chain, closing the HBONE tunnels on it; a client that
/// reuses a connection at that moment sees a reset. Served over RDS (same ADS stream), a route edit leaves the
/// listener untouched and in-flight connections keep going. Reported to the translator's owner.</para>
/// </remarks>
internal static class WaypointListenerAdapter
{
    public static (IReadOnlyList<Listener> Listeners, IReadOnlyList<RouteConfiguration> Routes) Adapt(IEnumerable<Listener> listeners, IPAddress bindAddress)
    {
        var adapted = new List<Listener>();
        var routes = new List<RouteConfiguration>();
        foreach (var listener in listeners)
        {
            var copy = listener.Clone();
            if (copy.Address?.SocketAddress is { } socket && !string.IsNullOrEmpty(socket.Address))
            {
                socket.Address = bindAddress.ToString();
                copy.AdditionalAddresses.Clear();
            }

            if (copy.InternalListener is not null)
            {
                foreach (var chain in copy.FilterChains.Append(copy.DefaultFilterChain).OfType<FilterChain>())
                {
                    foreach (var filter in chain.Filters)
                    {
                        MoveRoutesToRds(filter, routes);
                    }
                }
            }

            adapted.Add(copy);
        }

        return (adapted, routes);
    }

    private static void MoveRoutesToRds(Filter filter, List<RouteConfiguration> routes)
    {
        if (filter.TypedConfig is null || !filter.TypedConfig.Is(HttpConnectionManager.Descriptor))
        {
            return;
        }

        var hcm = filter.TypedConfig.Unpack<HttpConnectionManager>();
        if (hcm.RouteConfig is not { } routeConfig || string.IsNullOrEmpty(routeConfig.Name) || routes.Any(r => r.Name == routeConfig.Name))
        {
            return;
        }

        routes.Add(routeConfig);
        hcm.Rds = new Rds
        {
            RouteConfigName = routeConfig.Name,
            ConfigSource = new ConfigSource { Ads = new AggregatedConfigSource(), ResourceApiVersion = ApiVersion.V3 },
        };
        filter.TypedConfig = Any.Pack(hcm);
    }
}
