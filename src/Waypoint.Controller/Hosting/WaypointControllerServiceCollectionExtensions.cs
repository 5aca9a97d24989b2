using k8s;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Waypoint.Controller;
using Waypoint.Controller.Client;

namespace Microsoft.Extensions.DependencyInjection;

public static class WaypointControllerServiceCollectionExtensions
{
    /// <summary>
    /// Adds the waypoint controller as a hosted service. Register an <see cref="IWaypointConfigPublisher"/> to receive
    /// snapshots (default: <see cref="InMemoryWaypointConfigPublisher"/>) and, to override in-cluster/kubeconfig
    /// discovery, a <see cref="KubernetesClientConfiguration"/>.
    /// </summary>
    public static IServiceCollection AddWaypointController(this IServiceCollection services, Action<WaypointControllerOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = services.AddOptions<WaypointControllerOptions>().ValidateDataAnnotations().ValidateOnStart();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<WaypointControllerOptions>, WaypointControllerOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.AddMetrics();
        services.TryAddSingleton<ControllerMetrics>();
        services.TryAddSingleton(_ => DefaultKubernetesConfiguration());
        services.TryAddSingleton(sp => new KubernetesApiClient(sp.GetRequiredService<KubernetesClientConfiguration>()));
        services.TryAddSingleton<IWaypointConfigPublisher, InMemoryWaypointConfigPublisher>();
        services.TryAddSingleton(sp => new WaypointController(
            sp.GetRequiredService<KubernetesApiClient>(),
            sp.GetRequiredService<IOptions<WaypointControllerOptions>>(),
            sp.GetRequiredService<IWaypointConfigPublisher>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILoggerFactory>(),
            xdsStatus: sp.GetService<Waypoint.Xds.Diagnostics.XdsServerStatus>(),
            lifetime: sp.GetService<IHostApplicationLifetime>(),
            metrics: sp.GetRequiredService<ControllerMetrics>()));
        services.TryAddSingleton(sp => new WaypointControllerReadiness(sp.GetRequiredService<WaypointController>()));
        services.TryAddSingleton(sp => new Waypoint.Controller.Diagnostics.ControllerDebugView(
            sp.GetRequiredService<WaypointController>(),
            sp.GetService<Waypoint.Xds.Diagnostics.XdsServerStatus>(),
            sp.GetRequiredService<IOptions<WaypointControllerOptions>>().Value));
        services.TryAddSingleton(sp => new Waypoint.Controller.Diagnostics.DebugAccessReviewer(
            sp.GetRequiredService<KubernetesApiClient>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILoggerFactory>().CreateLogger("Waypoint.Controller.Debug")));
        services.AddHostedService(sp => sp.GetRequiredService<WaypointController>());
        return services;
    }

    /// <summary>
    /// Where the controller finds its cluster, in controller-runtime's order: <c>KUBECONFIG</c> (a list of files, as
    /// kubectl reads it) when set, else the pod's ServiceAccount in a cluster, else <c>~/.kube/config</c>.
    /// </summary>
    internal static KubernetesClientConfiguration DefaultKubernetesConfiguration() =>
        !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("KUBECONFIG"))
            ? KubernetesClientConfiguration.BuildDefaultConfig()
            : KubernetesClientConfiguration.IsInCluster()
                ? KubernetesClientConfiguration.InClusterConfig()
                : KubernetesClientConfiguration.BuildConfigFromConfigFile();
}

internal sealed class WaypointControllerOptionsValidator : IValidateOptions<WaypointControllerOptions>
{
    public ValidateOptionsResult Validate(string? name, WaypointControllerOptions options)
    {
        var errors = new List<string>();
        var election = options.LeaderElection;
        if (election.Enabled && !(election.RetryPeriod < election.RenewDeadline && election.RenewDeadline < election.LeaseDuration))
        {
            errors.Add($"LeaderElection needs RetryPeriod < RenewDeadline < LeaseDuration (got {election.RetryPeriod}, {election.RenewDeadline}, {election.LeaseDuration}).");
        }

        if (options.Debounce < TimeSpan.Zero || options.MaxDebounce < options.Debounce)
        {
            errors.Add("Debounce must be non-negative and at most MaxDebounce.");
        }

        if (options.ResyncPeriod <= TimeSpan.Zero)
        {
            errors.Add("ResyncPeriod must be positive.");
        }

        var tracing = options.Telemetry.Tracing;
        if (tracing.Enabled && !Waypoint.Translator.Telemetry.TracingOptions.IsValidCollector(tracing.Collector))
        {
            errors.Add($"Telemetry:Tracing:Collector must be the OTLP/gRPC collector's host:port when tracing is enabled (got '{tracing.Collector}').");
        }

        if (tracing.SamplingPercent is < 0 or > 100 || double.IsNaN(tracing.SamplingPercent))
        {
            errors.Add($"Telemetry:Tracing:SamplingPercent must be between 0 and 100 (got {tracing.SamplingPercent.ToString(System.Globalization.CultureInfo.InvariantCulture)}).");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
