using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Waypoint.Agent;
using Waypoint.Agent.DevCa;
using Waypoint.Local.Envoy;
using Waypoint.Local.Topology;
using Waypoint.Xds.Bootstrap;

namespace Waypoint.Local.Waypoint;

/// <summary>
/// One waypoint pod of the rig: our agent (certificate from the dev CA over istiod's protocol, served over SDS on a
/// Unix socket) and an upstream Envoy configured only by our xDS server and that SDS.
/// </summary>
public sealed class LocalWaypointProxy : IAsyncDisposable
{
    private readonly IHost _agent;

    private LocalWaypointProxy(LocalWaypoint waypoint, string nodeId, IHost agent, EnvoyInstance envoy)
    {
        Waypoint = waypoint;
        NodeId = nodeId;
        _agent = agent;
        Envoy = envoy;
    }

    public LocalWaypoint Waypoint { get; }

    /// <summary>The Envoy's node id (its node cluster is <see cref="LocalWaypoint.Key"/>).</summary>
    public string NodeId { get; }

    public EnvoyInstance Envoy { get; }

    /// <summary>The agent's certificate manager (current identity, rotations).</summary>
    public WorkloadCertificateManager Certificates => _agent.Services.GetRequiredService<WorkloadCertificateManager>();

    public static async Task<LocalWaypointProxy> StartAsync(
        LocalWaypoint waypoint,
        LocalControlPlane controlPlane,
        string directory,
        string trustDomain,
        string? envoyBinary,
        string envoyLogLevel,
        ILoggerFactory loggerFactory,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(waypoint);
        ArgumentNullException.ThrowIfNull(controlPlane);
        Directory.CreateDirectory(directory);
        var rootPath = Path.Combine(directory, "root-cert.pem");
        var tokenPath = Path.Combine(directory, "istio-token");
        var socketPath = Path.Combine(directory, "sds", "socket");
        await File.WriteAllTextAsync(rootPath, controlPlane.Authority.RootBundlePem, cancellationToken).ConfigureAwait(false);
        var podName = $"{waypoint.Name}-0";
        await File.WriteAllTextAsync(
            tokenPath,
            DevTokens.CreateServiceAccountToken(waypoint.Namespace, waypoint.ServiceAccount, DateTimeOffset.UtcNow.AddDays(365), podName: podName),
            cancellationToken).ConfigureAwait(false);

        var builder = Microsoft.Extensions.Hosting.Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.Replace(ServiceDescriptor.Singleton(loggerFactory));
        builder.Services.AddSingleton(typeof(ILogger<>), typeof(Logger<>));
        builder.Services.AddWaypointAgent(o =>
        {
            o.TrustDomain = trustDomain;
            o.Namespace = waypoint.Namespace;
            o.ServiceAccount = waypoint.ServiceAccount;
            o.CaAddress = $"{LocalControlPlane.CaHost}:15012";
            o.CaConnectAddress = controlPlane.CaEndPoint.ToString();
            o.RootCertPath = rootPath;
            o.TokenPath = tokenPath;
            o.SocketPath = socketPath;
        });
        var agent = builder.Build();
        await agent.StartAsync(cancellationToken).ConfigureAwait(false);

        EnvoyInstance envoy;
        var nodeId = $"{podName}.{waypoint.Namespace}";
        try
        {
            var bootstrap = EnvoyBootstrapBuilder.Build(new EnvoyBootstrapOptions
            {
                NodeId = nodeId,
                NodeCluster = waypoint.Key,
                XdsHost = controlPlane.XdsEndPoint.Address.ToString(),
                XdsPort = controlPlane.XdsEndPoint.Port,
                AdminAddress = "127.0.0.1",
                AdminPort = 0,
                IncludeSdsCluster = true,
                SdsSocketPath = socketPath,
                HealthPort = null,
                InitialFetchTimeout = TimeSpan.FromSeconds(20),
            });
            envoy = await EnvoyInstance.StartAsync(
                new EnvoyInstanceOptions
                {
                    Role = $"waypoint {waypoint.Namespace}/{waypoint.Name}",
                    Bootstrap = EnvoyBootstrapBuilder.RenderJson(bootstrap),
                    Binary = envoyBinary,
                    WorkDirectory = Path.Combine(directory, "envoy"),
                    LogLevel = envoyLogLevel,
                    Concurrency = 2,
                    StartTimeout = TimeSpan.FromSeconds(45),
                },
                loggerFactory.CreateLogger<LocalWaypointProxy>(),
                cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await agent.StopAsync(CancellationToken.None).ConfigureAwait(false);
            agent.Dispose();
            throw;
        }

        return new LocalWaypointProxy(waypoint, nodeId, agent, envoy);
    }

    public async ValueTask DisposeAsync()
    {
        await Envoy.DisposeAsync().ConfigureAwait(false);
        await _agent.StopAsync(CancellationToken.None).ConfigureAwait(false);
        _agent.Dispose();
    }
}
