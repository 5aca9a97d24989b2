using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using OpenTelemetry.Metrics;
using Waypoint.Telemetry.Prometheus;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Prometheus endpoints through OpenTelemetry .NET's exporter: the controller's <c>/metrics</c> (istiod's 15014) and the
/// agent's <c>/stats/prometheus</c> (istio-agent's 15020), which serves Envoy's own stats followed by the agent's.
/// </summary>
public static class WaypointPrometheusExtensions
{
    /// <summary>Exports the named meters (and nothing else) to the Prometheus scraping endpoint.</summary>
    public static IServiceCollection AddWaypointPrometheus(this IServiceCollection services, params string[] meterNames)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(meterNames);
        services.AddMetrics();
        services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddMeter(meterNames)
            // Every scrape reads the current values: a cached answer would hide a request a test (or a person) just made.
            .AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = 0));
        return services;
    }

    /// <summary>Serves the exported meters at <paramref name="path"/>, on connections to local port <paramref name="port"/> only.</summary>
    public static IApplicationBuilder UseWaypointPrometheus(this IApplicationBuilder app, int port, string path = "/metrics")
    {
        ArgumentNullException.ThrowIfNull(app);
        return app.UseOpenTelemetryPrometheusScrapingEndpoint(
            meterProvider: null,
            predicate: context => context.Connection.LocalPort == port && context.Request.Path == path,
            path: null,
            configureBranchedPipeline: null,
            optionsName: null);
    }

    /// <summary>
    /// Serves <paramref name="path"/> on local port <paramref name="port"/> as istio-agent does: Envoy's own
    /// <c>/stats/prometheus</c> (read from its admin API by <paramref name="envoyStats"/>; null when there is no Envoy
    /// or it does not answer), then the exported meters, in Prometheus' text format.
    /// </summary>
    public static IApplicationBuilder UseMergedPrometheus(this IApplicationBuilder app, int port, string path, Func<CancellationToken, Task<string?>>? envoyStats)
    {
        ArgumentNullException.ThrowIfNull(app);
        return app.UseOpenTelemetryPrometheusScrapingEndpoint(
            meterProvider: null,
            predicate: context => context.Connection.LocalPort == port && context.Request.Path == path,
            path: null,
            configureBranchedPipeline: branch => branch.Use((context, next) => MergedPrometheusResponse.WriteAsync(context, next, envoyStats)),
            optionsName: null);
    }
}
