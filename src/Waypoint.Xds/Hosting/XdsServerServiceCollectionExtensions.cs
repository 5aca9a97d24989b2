using Grpc.AspNetCore.Server;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Waypoint.Xds;
using Waypoint.Xds.Diagnostics;
using Waypoint.Xds.Internal;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the Waypoint xDS server.</summary>
public static class XdsServerServiceCollectionExtensions
{
    /// <summary>
    /// Adds the ADS services, the snapshot cache (singleton <see cref="XdsSnapshotCache"/>), the node → group resolver
    /// (default: <see cref="NodeClusterGroupResolver"/>), status and metrics. Existing registrations win, so hosts and
    /// tests can substitute any of them. Map the endpoints with <c>MapWaypointXds()</c>.
    /// </summary>
    public static IServiceCollection AddWaypointXdsServer(this IServiceCollection services, Action<XdsServerOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddOptions<XdsServerOptions>();
        if (configure is not null)
        {
            services.Configure(configure);
        }

        services.AddGrpc();
        services.AddMetrics();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IConfigureOptions<GrpcServiceOptions>, XdsGrpcOptionsSetup>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<XdsSnapshotCache>();
        services.TryAddSingleton<INodeGroupResolver, NodeClusterGroupResolver>();
        services.TryAddSingleton<XdsServerStatus>();
        services.TryAddSingleton<XdsMetrics>();
        services.TryAddSingleton<AdsServices>();
        return services;
    }

    private sealed class XdsGrpcOptionsSetup(IOptions<XdsServerOptions> options) : IConfigureOptions<GrpcServiceOptions>
    {
        public void Configure(GrpcServiceOptions grpc)
        {
            grpc.MaxSendMessageSize = options.Value.MaxSendMessageSize;
            grpc.MaxReceiveMessageSize = 16 * 1024 * 1024;
        }
    }
}
