using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Waypoint.Transformation.Compilation;
using Waypoint.Transformation.Processing;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Hosts the TrafficPolicy transformation service (Envoy ext_proc) in the waypoint agent.</summary>
public static class WaypointTransformationExtensions
{
    /// <summary>Registers the transformation service (gRPC, its program cache and metrics).</summary>
    public static IServiceCollection AddWaypointTransformation(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddGrpc();
        services.AddMetrics();
        services.TryAddSingleton<TransformationProgramCache>();
        services.TryAddSingleton<TransformationMetrics>();
        return services;
    }

    /// <summary>Maps the <c>envoy.service.ext_proc.v3.ExternalProcessor</c> endpoint. It serves only connections on a Unix socket.</summary>
    public static GrpcServiceEndpointConventionBuilder MapWaypointTransformation(this IEndpointRouteBuilder endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        return endpoints.MapGrpcService<TransformationProcessor>();
    }

    /// <summary>
    /// Listens for Envoy on <paramref name="socketPath"/> (HTTP/2; put it in a pod-private emptyDir shared with Envoy) and raises
    /// the HTTP/2 header limits so large transformations fit in the stream metadata.
    /// </summary>
    public static KestrelServerOptions ListenWaypointTransformation(this KestrelServerOptions options, string? socketPath = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        socketPath ??= TransformationExtProc.DefaultSocketPath;
        var directory = Path.GetDirectoryName(socketPath);
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }

        if (File.Exists(socketPath))
        {
            File.Delete(socketPath); // a stale socket from a previous run of this pod-private service
        }

        var headerBytes = TrafficPolicyCompiler.MaxEncodedTransformationBytes + (16 * 1024);
        options.Limits.Http2.MaxRequestHeaderFieldSize = Math.Max(options.Limits.Http2.MaxRequestHeaderFieldSize, headerBytes);
        options.Limits.MaxRequestHeadersTotalSize = Math.Max(options.Limits.MaxRequestHeadersTotalSize, headerBytes * 2);
        options.ListenUnixSocket(socketPath, listen => listen.Protocols = HttpProtocols.Http2);
        return options;
    }
}
