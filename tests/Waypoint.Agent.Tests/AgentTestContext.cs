using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Options;
using Waypoint.Agent.Ca;
using Waypoint.TestKit.Ca;
using Waypoint.TestKit.Pki;

namespace Waypoint.Agent.Tests;

/// <summary>
/// An istiod CA double plus an agent's pieces wired by hand (no host): options pointing at the double, a real
/// <see cref="IstioCaClient"/>, a <see cref="WorkloadCertificateManager"/>, fake logs and metric collectors.
/// </summary>
internal sealed class AgentTestContext : IAsyncDisposable
{
    private readonly ServiceProvider _services;

    private AgentTestContext(IstiodCaDouble ca, TestDirectory directory, AgentOptions options, TimeProvider time)
    {
        Ca = ca;
        Directory = directory;
        Options = options;
        _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        MeterFactory = _services.GetRequiredService<IMeterFactory>();
        Metrics = new AgentMetrics(MeterFactory);
        CaErrors = new MetricCollector<long>(MeterFactory, AgentMetrics.MeterName, "waypoint.agent.ca.errors");
        Rotations = new MetricCollector<long>(MeterFactory, AgentMetrics.MeterName, "waypoint.agent.certificate.rotations");
        Expiry = new MetricCollector<long>(MeterFactory, AgentMetrics.MeterName, "waypoint.agent.certificate.expiry");
        Logs = new FakeLogCollector();
        Client = new IstioCaClient(Microsoft.Extensions.Options.Options.Create(options), new FakeLogger<IstioCaClient>(Logs));
        Manager = new WorkloadCertificateManager(Microsoft.Extensions.Options.Options.Create(options), Client, time, Metrics, new FakeLogger<WorkloadCertificateManager>(Logs));
    }

    public const string Namespace = "apps";
    public const string ServiceAccount = "waypoint";

    public IstiodCaDouble Ca { get; }

    public TestDirectory Directory { get; }

    public AgentOptions Options { get; }

    public IMeterFactory MeterFactory { get; }

    public AgentMetrics Metrics { get; }

    public MetricCollector<long> CaErrors { get; }

    public MetricCollector<long> Rotations { get; }

    public MetricCollector<long> Expiry { get; }

    public FakeLogCollector Logs { get; }

    public IstioCaClient Client { get; }

    public WorkloadCertificateManager Manager { get; }

    public string ExpectedIdentity => Options.ExpectedIdentity;

    public static async Task<AgentTestContext> StartAsync(Action<AgentOptions>? configure = null, IstiodCaDoubleOptions? caOptions = null)
    {
        var ca = await IstiodCaDouble.StartAsync(caOptions);
        var directory = new TestDirectory();
        var options = new AgentOptions { Namespace = Namespace, ServiceAccount = ServiceAccount, CaRequestTimeout = TimeSpan.FromSeconds(10) };
        ca.Configure(options, directory.Path);
        options.SocketPath = directory.File("sds/socket");
        configure?.Invoke(options);
        Assert.DoesNotContain(options.Validate(), e => !e.Contains("CertificateTtl", StringComparison.Ordinal));
        return new AgentTestContext(ca, directory, options, caOptions?.TimeProvider ?? TimeProvider.System);
    }

    public void WriteToken(string token) => File.WriteAllText(Options.TokenPath, token);

    /// <summary>No log message carries the token or any key material.</summary>
    public void AssertLogsHoldNoSecrets()
    {
        var token = File.Exists(Options.TokenPath) ? File.ReadAllText(Options.TokenPath).Trim() : null;
        foreach (var record in Logs.GetSnapshot())
        {
            var text = record.Message + record.Exception;
            Assert.DoesNotContain("PRIVATE KEY", text, StringComparison.Ordinal);
            if (!string.IsNullOrEmpty(token))
            {
                Assert.DoesNotContain(token, text, StringComparison.Ordinal);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        CaErrors.Dispose();
        Rotations.Dispose();
        Expiry.Dispose();
        await _services.DisposeAsync();
        await Ca.DisposeAsync();
        Directory.Dispose();
    }
}
