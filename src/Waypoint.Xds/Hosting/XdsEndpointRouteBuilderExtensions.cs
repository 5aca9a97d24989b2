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
    /// <summary>Maps ADS (state of the world and delta) and, unless disabled, the debug JSON endpoint (GET /debug/xds).</summary>
    public static IEndpointRouteBuilder MapWaypointXds(this IEndpointRouteBuilder endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        endpoints.MapGrpcService<AggregatedDiscoveryServiceImpl>();
        var options = endpoints.ServiceProvider.GetRequiredService<IOptions<XdsServerOptions>>().Value;
        if (options.EnableDebugEndpoint)
        {
            endpoints.MapGet(options.DebugPath, (XdsServerStatus status, XdsSnapshotCache cache) =>
                Results.Json(XdsDebugView.Create(status, cache), XdsDebugView.JsonOptions));
        }

        return endpoints;
    }
}
