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
    /// Adds the workload identity agent: the workload certificate (<see cref="AddWorkloadCertificate"/>) and
    /// <see cref="SdsServer"/> on the configured Unix socket as a hosted service. Options are validated on start.
    /// </summary>
    public static IServiceCollection AddWaypointAgent(this IServiceCollection services, Action<AgentOptions> configure)
    {
        services.AddWorkloadCertificate(configure);
        services.TryAddSingleton<SdsServer>();
        services.AddHostedService(sp => sp.GetRequiredService<SdsServer>());
        return services;
    }

    /// <summary>
    /// Adds this process's own workload certificate from istiod's CA, without SDS: <see cref="IstioCaClient"/> (as
    /// <see cref="ICertificateAuthorityClient"/>, replaceable) and <see cref="WorkloadCertificateManager"/> with its
    /// rotation loop as a hosted service. The waypoint agent serves it to Envoy; the controller's xDS server serves
    /// with it (its identity is the controller's own ServiceAccount, from its projected token).
    /// </summary>
    public static IServiceCollection AddWorkloadCertificate(this IServiceCollection services, Action<AgentOptions> configure)
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
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, WorkloadCertificateRotationService>());
        return services;
    }
}
