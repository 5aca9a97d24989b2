using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Waypoint.Agent;
using Waypoint.Agent.Ca;
using Waypoint.Agent.Certificates;
using Waypoint.TestKit.Envoy;
using Waypoint.TestKit.Http;

namespace Waypoint.TestKit.Ca;

/// <summary>
/// The agent as a waypoint pod runs it (<c>AddWaypointAgent</c>: CA client, rotation, SDS on a Unix socket) with a
/// real Envoy that reads its certificate over SDS into the HBONE downstream context (listener <c>mesh</c>) and an echo
/// backend behind it. The CA is whatever <c>caClient</c> builds: the real istiod through the box, or the double.
/// </summary>
public sealed class ServingAgent : IAsyncDisposable
{
    private readonly List<WorkloadCertificate> _installed = [];

    private ServingAgent(IHost host, AgentOptions options, EchoBackend backend)
    {
        Host = host;
        Options = options;
        Backend = backend;
        Manager.CertificateChanged += (_, c) =>
        {
            lock (_installed)
            {
                _installed.Add(c);
            }
        };
    }

    public IHost Host { get; }

    public AgentOptions Options { get; }

    public EchoBackend Backend { get; }

    public EnvoyProcess Envoy { get; private set; } = null!;

    /// <summary>Envoy's <c>mesh</c> listener (mTLS with the agent's certificate, client certificate required).</summary>
    public IPEndPoint MeshEndPoint { get; private set; } = null!;

    public WorkloadCertificateManager Manager => Host.Services.GetRequiredService<WorkloadCertificateManager>();

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

    /// <summary>How many CA calls failed and were retried with backoff (the agent's <c>CertificateTransientFailure</c> log).</summary>
    public int TransientFailures => Logs.GetSnapshot().Count(r => r.Id.Name == "CertificateTransientFailure");

    /// <param name="options">The agent's settings (copied; <see cref="AgentOptions.SocketPath"/> must be set).</param>
    /// <param name="caClient">Builds the CA client (the agent's <see cref="IstioCaClient"/> in the tests, dialled as they need).</param>
    /// <param name="logSink">Also writes each log line here (e.g. the console of a bench).</param>
    public static async Task<ServingAgent> StartAsync(AgentOptions options, Func<IServiceProvider, ICertificateAuthorityClient> caClient, Action<string>? logSink = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(caClient);
        var builder = Microsoft.Extensions.Hosting.Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Logging.AddFakeLogging(o => o.OutputSink = logSink);
        builder.Services.TryAddSingleton(caClient);
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
            o.CaRequestTimeout = options.CaRequestTimeout;
            o.InitialRetryDelay = options.InitialRetryDelay;
            o.MaxRetryDelay = options.MaxRetryDelay;
            o.RejectedRetryDelay = options.RejectedRetryDelay;
        });
        var host = builder.Build();
        var backend = await EchoBackend.StartAsync("backend", cancellationToken: cancellationToken).ConfigureAwait(false);
        var agent = new ServingAgent(host, options, backend);
        try
        {
            await host.StartAsync(cancellationToken).ConfigureAwait(false);
            await agent.Manager.WaitForCertificateAsync(cancellationToken).ConfigureAwait(false);
            agent.Envoy = await EnvoyProcess.StartAsync(AgentEnvoyBootstrap.Build(options.SocketPath, options.TrustDomain, backend.EndPoint), cancellationToken: cancellationToken).ConfigureAwait(false);
            agent.MeshEndPoint = new IPEndPoint(IPAddress.Loopback, await agent.Envoy.GetListenerPortAsync("mesh", cancellationToken).ConfigureAwait(false));
            return agent;
        }
        catch
        {
            await agent.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The trust bundle the agent serves (istiod's roots), for a client of <see cref="MeshEndPoint"/>.</summary>
    public X509Certificate2Collection Roots() => [.. Manager.Current!.TrustBundle];

    public async ValueTask DisposeAsync()
    {
        if (Envoy is not null)
        {
            await Envoy.DisposeAsync().ConfigureAwait(false);
        }

        await Host.StopAsync().ConfigureAwait(false);
        Host.Dispose();
        await Backend.DisposeAsync().ConfigureAwait(false);
    }
}
