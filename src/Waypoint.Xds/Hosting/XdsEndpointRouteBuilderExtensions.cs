using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Waypoint.Xds;
using Waypoint.Xds.Diagnostics;
using Waypoint.Xds.Internal;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Maps the Waypoint xDS endpoints.</summary>
public static class XdsEndpointRouteBuilderExtensions
{
    /// <summary>
    /// Maps ADS (state of the world and delta) and, unless disabled, the debug JSON endpoint (GET /debug/xds), which
    /// answers only connections to a loopback address: it shows every waypoint's configuration.
    /// </summary>
    public static IEndpointRouteBuilder MapWaypointXds(this IEndpointRouteBuilder endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        endpoints.MapGrpcService<AggregatedDiscoveryServiceImpl>();
        var options = endpoints.ServiceProvider.GetRequiredService<IOptions<XdsServerOptions>>().Value;
        if (options.EnableDebugEndpoint)
        {
            endpoints.MapGet(options.DebugPath, (XdsServerStatus status, XdsSnapshotCache cache) =>
                    Results.Json(XdsDebugView.Create(status, cache), XdsDebugView.JsonOptions))
                .AddEndpointFilter(LoopbackOnly);
        }

        return endpoints;
    }

    /// <summary>
    /// 404 unless the connection was made to a loopback address. The local address, unlike the Host header, is not
    /// the client's to choose: on a listener bound to all interfaces only processes in the pod (or a
    /// <c>kubectl port-forward</c>) reach it through 127.0.0.1.
    /// </summary>
    internal static ValueTask<object?> LoopbackOnly(EndpointFilterInvocationContext context, EndpointFilterDelegate next) =>
        IsLoopbackConnection(context.HttpContext.Connection)
            ? next(context)
            : ValueTask.FromResult<object?>(Results.NotFound());

    internal static bool IsLoopbackConnection(ConnectionInfo connection) =>
        connection.LocalIpAddress is { } local && IPAddress.IsLoopback(local.IsIPv4MappedToIPv6 ? local.MapToIPv4() : local);
}
