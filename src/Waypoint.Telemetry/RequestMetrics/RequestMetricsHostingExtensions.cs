using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Waypoint.Telemetry.RequestMetrics;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Hosts the request-metrics access log service in the waypoint agent.</summary>
public static class WaypointRequestMetricsExtensions
{
    /// <summary>Registers the access log receiver and the Istio request meters (meter <see cref="IstioRequestMetrics.MeterName"/>).</summary>
    public static IServiceCollection AddWaypointRequestMetrics(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddGrpc();
        services.AddMetrics();
        services.TryAddSingleton<IstioRequestMetrics>();
        return services;
    }

    /// <summary>Maps <c>envoy.service.accesslog.v3.AccessLogService</c>; it answers only connections on a Unix socket.</summary>
    public static GrpcServiceEndpointConventionBuilder MapWaypointRequestMetrics(this IEndpointRouteBuilder endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        return endpoints.MapGrpcService<AccessLogReceiver>();
    }

    /// <summary>Listens for Envoy's access log streams on <paramref name="socketPath"/> (HTTP/2; a pod-private emptyDir shared with Envoy).</summary>
    public static KestrelServerOptions ListenWaypointRequestMetrics(this KestrelServerOptions options, string? socketPath = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        socketPath ??= RequestMetricsEnvoyConfig.DefaultSocketPath;
        var directory = Path.GetDirectoryName(socketPath);
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }

        if (File.Exists(socketPath))
        {
            File.Delete(socketPath); // a stale socket from a previous run of this pod-private service
        }

        options.ListenUnixSocket(socketPath, listen => listen.Protocols = HttpProtocols.Http2);
        return options;
    }
}
