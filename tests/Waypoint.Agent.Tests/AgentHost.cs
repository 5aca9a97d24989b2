using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Waypoint.Agent.Certificates;
using Waypoint.Agent.Sds;
using Waypoint.TestKit.Ca;
using Waypoint.TestKit.Pki;

namespace Waypoint.Agent.Tests;

/// <summary>The agent as the <c>waypoint agent</c> command runs it (AddWaypointAgent in a host), against an istiod double.</summary>
internal sealed class AgentHost : IAsyncDisposable
{
    private readonly List<WorkloadCertificate> _installed = [];

    private AgentHost(IstiodCaDouble ca, TestDirectory directory, IHost host, AgentOptions options)
    {
        Ca = ca;
        Directory = directory;
        Host = host;
        Options = options;
        Manager.CertificateChanged += (_, c) =>
        {
            lock (_installed)
            {
                _installed.Add(c);
            }
        };
    }

    public IstiodCaDouble Ca { get; }

    public TestDirectory Directory { get; }

    public IHost Host { get; }

    public AgentOptions Options { get; }

    public WorkloadCertificateManager Manager => Host.Services.GetRequiredService<WorkloadCertificateManager>();

    public SdsServer Sds => Host.Services.GetRequiredService<SdsServer>();

    public FakeLogCollector Logs => Host.Services.GetFakeLogCollector();

    /// <summary>Every certificate installed since start, in order.</summary>
    public IReadOnlyList<WorkloadCertificate> Installed
    {
        get
        {
            lock (_installed)
            {
                return [.. _installed];
            }
        }
    }

    public static async Task<AgentHost> StartAsync(Action<AgentOptions>? configure = null, IstiodCaDouble? ca = null)
    {
        ca ??= await IstiodCaDouble.StartAsync();
        var directory = new TestDirectory();
        var options = new AgentOptions { Namespace = "apps", ServiceAccount = "waypoint" };
        ca.Configure(options, directory.Path);
        options.SocketPath = directory.File("workload-spiffe-uds/socket");
        configure?.Invoke(options);

        var builder = Microsoft.Extensions.Hosting.Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Logging.AddFakeLogging();
        builder.Services.AddWaypointAgent(o =>
        {
            o.TrustDomain = options.TrustDomain;
            o.Namespace = options.Namespace;
            o.ServiceAccount = options.ServiceAccount;
            o.CaAddress = options.CaAddress;
            o.CaConnectAddress = options.CaConnectAddress;
            o.RootCertPath = options.RootCertPath;
            o.TokenPath = options.TokenPath;
            o.ClusterId = options.ClusterId;
            o.SocketPath = options.SocketPath;
            o.CertificateTtl = options.CertificateTtl;
            o.KeyType = options.KeyType;
            o.GracePeriodRatio = options.GracePeriodRatio;
            o.GracePeriodJitter = options.GracePeriodJitter;
        });
        var host = builder.Build();
        var agent = new AgentHost(ca, directory, host, options);
        await host.StartAsync();
        return agent;
    }

    public async Task<WorkloadCertificate> WaitForCertificateAsync() =>
        await Manager.WaitForCertificateAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));

    public async ValueTask DisposeAsync()
    {
        await Host.StopAsync();
        Host.Dispose();
        await Ca.DisposeAsync();
        Directory.Dispose();
    }
}
