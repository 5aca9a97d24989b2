using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Waypoint.Controller.Diagnostics;
using Waypoint.Translator;
using Waypoint.Translator.Model;

namespace Microsoft.AspNetCore.Builder;

/// <summary>The controller's debug API (JSON), read by <c>waypoint status</c>, <c>config</c> and <c>describe</c>.</summary>
public static class ControllerDebugEndpoints
{
    /// <summary>
    /// Maps <c>GET /debug/waypoints[?namespace=ns]</c>, <c>/debug/config/{ns}/{gateway}[/full]</c> and
    /// <c>/debug/services/{ns}/{service}</c>. Loopback connections are trusted; others need a bearer token whose user
    /// may list/get Gateways (Services for <c>/debug/services</c>) in that namespace (<see cref="DebugAccessReviewer"/>).
    /// </summary>
    /// <param name="builder">The application.</param>
    /// <param name="localPort">Answer only connections to this local port (the health listener; not xDS or metrics); null: any.</param>
    public static RouteGroupBuilder MapWaypointControllerDebug(this IEndpointRouteBuilder builder, int? localPort = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var endpoints = builder.MapGroup("/debug");

        // By the connection's local port, not the Host header (which the client chooses and a proxy rewrites).
        endpoints.AddEndpointFilter((context, next) => localPort is null || context.HttpContext.Connection.LocalPort == localPort
            ? next(context)
            : ValueTask.FromResult<object?>(Results.NotFound()));
        endpoints.MapGet("/waypoints", async (HttpContext context, string? @namespace, ControllerDebugView view, DebugAccessReviewer reviewer) =>
            await reviewer.CheckAsync(context, Gateways("list", @namespace)).ConfigureAwait(false)
            ?? Results.Json(view.Waypoints(@namespace), ControllerDebugJson.Options));
        endpoints.MapGet("/config/{ns}/{gateway}", async (HttpContext context, string ns, string gateway, ControllerDebugView view, DebugAccessReviewer reviewer) =>
            await reviewer.CheckAsync(context, Gateways("get", ns, gateway)).ConfigureAwait(false)
            ?? (view.Config(new WaypointKey(ns, gateway)) is { } config ? Results.Json(config, ControllerDebugJson.Options) : NotAWaypoint(ns, gateway)));
        endpoints.MapGet("/config/{ns}/{gateway}/full", async (HttpContext context, string ns, string gateway, ControllerDebugView view, DebugAccessReviewer reviewer) =>
            await reviewer.CheckAsync(context, Gateways("get", ns, gateway)).ConfigureAwait(false)
            ?? (view.FullConfig(new WaypointKey(ns, gateway)) is { } config ? Results.Json(config, ControllerDebugJson.Options) : NotAWaypoint(ns, gateway)));
        endpoints.MapGet("/services/{ns}/{service}", async (HttpContext context, string ns, string service, ControllerDebugView view, DebugAccessReviewer reviewer) =>
            await reviewer.CheckAsync(context, new DebugAccess("get", "", "services", ns, service)).ConfigureAwait(false)
            ?? (view.Service(ns, service) is { } description
                ? Results.Json(description, ControllerDebugJson.Options)
                : Results.Json(new { error = $"Service {ns}/{service} is not in the controller's cache (no such Service)." }, statusCode: StatusCodes.Status404NotFound)));
        return endpoints;
    }

    private static DebugAccess Gateways(string verb, string? ns, string? name = null) => new(verb, GatewayApi.Group, "gateways", ns, name);

    private static IResult NotAWaypoint(string ns, string gateway) =>
        Results.Json(new { error = $"Gateway {ns}/{gateway} is not a waypoint this controller serves." }, statusCode: StatusCodes.Status404NotFound);
}
