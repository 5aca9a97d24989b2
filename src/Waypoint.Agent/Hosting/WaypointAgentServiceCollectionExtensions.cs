using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Waypoint.Agent;
using Waypoint.Agent.Ca;
using Waypoint.Agent.Hosting;
using Waypoint.Agent.Sds;

namespace Microsoft.Extensions.DependencyInjection;

public static class WaypointAgentServiceCollectionExtensions
{
    /// <summary>
    /// Adds the workload identity agent: <see cref="IstioCaClient"/> (as <see cref="ICertificateAuthorityClient"/>,
    /// replaceable), <see cref="WorkloadCertificateManager"/> with its rotation loop, and <see cref="SdsServer"/> on
    /// the configured Unix socket, all as hosted services. Options are validated on start.
    /// </summary>
    public static IServiceCollection AddWaypointAgent(this IServiceCollection services, Action<AgentOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<AgentOptions>().Configure(configure).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<AgentOptions>, AgentOptionsValidator>());
        services.AddMetrics();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<AgentMetrics>();
        services.TryAddSingleton<ICertificateAuthorityClient>(sp => new IstioCaClient(sp.GetRequiredService<IOptions<AgentOptions>>(), sp.GetRequiredService<ILogger<IstioCaClient>>()));
        services.TryAddSingleton<WorkloadCertificateManager>();
        services.TryAddSingleton<SdsServer>();
        services.AddHostedService<WorkloadCertificateRotationService>();
        services.AddHostedService(sp => sp.GetRequiredService<SdsServer>());
        return services;
    }
}
