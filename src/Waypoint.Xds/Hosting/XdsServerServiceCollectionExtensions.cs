using Grpc.AspNetCore.Server;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Waypoint.Xds;
using Waypoint.Xds.Diagnostics;
using Waypoint.Xds.Internal;
using Waypoint.Xds.Security;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the Waypoint xDS server.</summary>
public static class XdsServerServiceCollectionExtensions
{
    /// <summary>
    /// Adds the ADS services, the snapshot cache (singleton <see cref="XdsSnapshotCache"/>), the node → group resolver,
    /// status and metrics. Existing registrations win, so hosts and tests can substitute any of them. Map the endpoints
    /// with <c>MapWaypointXds()</c>.
    /// </summary>
    /// <remarks>
    /// With <see cref="XdsServerOptions.Transport"/> = <see cref="XdsTransportSecurity.MutualTls"/> (the default) the
    /// resolver is <see cref="AuthenticatedNodeGroupResolver"/> over the registered <see cref="IXdsIdentityGroups"/>
    /// (none registered: nothing is granted), and the host must also register the server's certificate
    /// (<c>AddWorkloadCertificate</c> from Waypoint.Agent). Plaintext uses <see cref="NodeClusterGroupResolver"/>.
    /// </remarks>
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
        services.TryAddSingleton<INodeGroupResolver>(sp => sp.GetRequiredService<IOptions<XdsServerOptions>>().Value.Transport == XdsTransportSecurity.Plaintext
            ? new NodeClusterGroupResolver()
            : new AuthenticatedNodeGroupResolver(sp.GetService<IXdsIdentityGroups>() ?? new NoXdsIdentityGroups()));
        services.TryAddSingleton<XdsServerTls>();
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
