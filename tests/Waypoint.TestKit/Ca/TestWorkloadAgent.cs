using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Waypoint.Agent;
using Waypoint.Agent.Certificates;
using Waypoint.TestKit.Pki;

namespace Waypoint.TestKit.Ca;

/// <summary>
/// The waypoint agent as a pod runs it (<c>AddWaypointAgent</c>: certificate from the istiod double with the pod's
/// token, SDS on a Unix socket), for tests that give a real Envoy its workload certificate.
/// </summary>
public sealed class TestWorkloadAgent : IAsyncDisposable
{
    private readonly TestDirectory _directory;
    private readonly IHost _host;

    private TestWorkloadAgent(TestDirectory directory, IHost host, string socketPath)
    {
        _directory = directory;
        _host = host;
        SocketPath = socketPath;
    }

    /// <summary>The SDS socket (<c>default</c> and <c>ROOTCA</c>) for Envoy's <c>sds-grpc</c> cluster.</summary>
    public string SocketPath { get; }

    public WorkloadCertificateManager Manager => _host.Services.GetRequiredService<WorkloadCertificateManager>();

    /// <summary>Starts the agent of <paramref name="namespace"/>/<paramref name="serviceAccount"/> and waits for its certificate.</summary>
    public static async Task<TestWorkloadAgent> StartAsync(IstiodCaDouble ca, string @namespace, string serviceAccount, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(ca);
        var directory = new TestDirectory("wpa-");
        var options = new AgentOptions { Namespace = @namespace, ServiceAccount = serviceAccount, SocketPath = directory.File("sds/socket") };
        ca.Configure(options, directory.Path);
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Logging.ClearProviders();
        builder.Services.AddWaypointAgent(o => CopyTo(options, o));
        var host = builder.Build();
        var agent = new TestWorkloadAgent(directory, host, options.SocketPath);
        await host.StartAsync(cancellationToken).ConfigureAwait(false);
        await agent.Manager.WaitForCertificateAsync(cancellationToken).WaitAsync(TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);
        return agent;
    }

    /// <summary>Copies what <see cref="IstiodCaDouble.Configure"/> and the caller set (options instances are per host).</summary>
    public static void CopyTo(AgentOptions from, AgentOptions to)
    {
        ArgumentNullException.ThrowIfNull(from);
        ArgumentNullException.ThrowIfNull(to);
        to.TrustDomain = from.TrustDomain;
        to.Namespace = from.Namespace;
        to.ServiceAccount = from.ServiceAccount;
        to.CaAddress = from.CaAddress;
        to.CaConnectAddress = from.CaConnectAddress;
        to.RootCertPath = from.RootCertPath;
        to.TokenPath = from.TokenPath;
        to.ClusterId = from.ClusterId;
        to.SocketPath = from.SocketPath;
        to.CertificateTtl = from.CertificateTtl;
    }

    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync().ConfigureAwait(false);
        _host.Dispose();
        _directory.Dispose();
    }
}
