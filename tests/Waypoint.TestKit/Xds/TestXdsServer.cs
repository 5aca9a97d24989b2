using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Waypoint.Agent;
using Waypoint.TestKit.Ca;
using Waypoint.TestKit.Envoy;
using Waypoint.TestKit.Pki;
using Waypoint.Xds;
using Waypoint.Xds.Bootstrap;
using Waypoint.Xds.Diagnostics;
using Waypoint.Xds.Security;

namespace Waypoint.TestKit.Xds;

/// <summary>
/// Mutual TLS for a <see cref="TestXdsServer"/>: the server's certificate comes from <paramref name="Ca"/> for
/// <paramref name="Namespace"/>/<paramref name="ServiceAccount"/> exactly as the controller gets its own (token →
/// istiod CA → <see cref="WorkloadCertificateManager"/>), and <paramref name="Groups"/> grants node groups to clients.
/// </summary>
public sealed record TestXdsServerTls(IstiodCaDouble Ca, IXdsIdentityGroups Groups, string Namespace = "waypoint-system", string ServiceAccount = "waypoint-controller")
{
    public string ServerIdentity => SpiffeId.ForServiceAccount(Ca.TrustDomain, Namespace, ServiceAccount);
}

/// <summary>Grants each identity the groups of a fixed table (tests).</summary>
public sealed class StaticXdsIdentityGroups(IReadOnlyDictionary<string, string[]> groupsBySpiffeId) : IXdsIdentityGroups
{
    public IReadOnlyCollection<string> GroupsOf(XdsPeerIdentity identity) =>
        groupsBySpiffeId.TryGetValue(identity.SpiffeId, out var groups) ? groups : [];
}

/// <summary>
/// The real Waypoint xDS server (Kestrel; h2c, or mutual TLS with <see cref="TestXdsServerTls"/>) on a loopback port,
/// for tests that feed real Envoys.
/// </summary>
/// <example>
/// <code>
/// await using var xds = await TestXdsServer.StartAsync();
/// xds.Cache.SetSnapshot("gw.ns", XdsTestResources.HttpProxy(echo.EndPoint));
/// await using var envoy = await xds.StartEnvoyAsync("gw.ns");          // waits until Envoy is LIVE
/// var port = await envoy.GetListenerPortAsync(XdsTestResources.ListenerName);
/// </code>
/// </example>
/// <remarks>
/// <see cref="Cache"/> survives <see cref="StopAsync"/>/<see cref="RestartAsync"/> (like a control plane that rebuilds
/// the same snapshot after a restart); <see cref="Status"/> and <see cref="Logs"/> belong to the current incarnation.
/// </remarks>
public sealed class TestXdsServer : IAsyncDisposable
{
    private readonly Action<IServiceCollection>? _configureServices;
    private readonly TestDirectory? _tlsDirectory;
    private WebApplication? _app;

    private TestXdsServer(XdsSnapshotCache cache, Action<IServiceCollection>? configureServices, TestXdsServerTls? tls)
    {
        Cache = cache;
        _configureServices = configureServices;
        Tls = tls;
        _tlsDirectory = tls is null ? null : new TestDirectory("wpx-");
    }

    /// <summary>Mutual TLS settings; null for h2c.</summary>
    public TestXdsServerTls? Tls { get; }

    /// <summary>The snapshots served, shared by all incarnations of the server.</summary>
    public XdsSnapshotCache Cache { get; }

    /// <summary>Streams, ACKed versions and NACKs of the running server.</summary>
    public XdsServerStatus Status { get; private set; } = new();

    /// <summary>Logs of the running server (assert by EventId/EventName).</summary>
    public FakeLogCollector Logs { get; private set; } = new();

    /// <summary>The running server's services (e.g. IMeterFactory for MetricCollector).</summary>
    public IServiceProvider Services => _app?.Services ?? throw new InvalidOperationException("The xDS server is not running.");

    public IPEndPoint EndPoint { get; private set; } = new(IPAddress.Loopback, 0);

    public int Port => EndPoint.Port;

    /// <summary>Base address for gRPC clients, e.g. <c>GrpcChannel.ForAddress(xds.Address)</c>.</summary>
    public Uri Address => new($"{(Tls is null ? "http" : "https")}://{EndPoint}");

    public bool IsRunning => _app is not null;

    /// <summary>Starts a server on 127.0.0.1:<paramref name="port"/> (0 = any free port).</summary>
    public static async Task<TestXdsServer> StartAsync(
        int port = 0,
        Action<IServiceCollection>? configureServices = null,
        XdsSnapshotCache? cache = null,
        TestXdsServerTls? tls = null,
        CancellationToken cancellationToken = default)
    {
        var server = new TestXdsServer(cache ?? new XdsSnapshotCache(), configureServices, tls);
        await server.StartCoreAsync(new IPEndPoint(IPAddress.Loopback, port), cancellationToken).ConfigureAwait(false);
        return server;
    }

    /// <summary>Stops the server; connected Envoys see their ADS stream end and keep their last configuration.</summary>
    public async Task StopAsync()
    {
        if (_app is { } app)
        {
            _app = null;
            await app.StopAsync().ConfigureAwait(false);
            await app.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Stops (if running) and starts again on the same port with the same snapshot cache.</summary>
    public async Task RestartAsync(CancellationToken cancellationToken = default)
    {
        await StopAsync().ConfigureAwait(false);
        await StartCoreAsync(EndPoint, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Bootstrap options for a test Envoy: ADS to this server, admin on a free loopback port, no health listener; no
    /// SDS over h2c, and over mutual TLS the agent socket <paramref name="sdsSocketPath"/> (required then).
    /// </summary>
    public EnvoyBootstrapOptions CreateBootstrapOptions(string nodeGroup, string? nodeId = null, XdsProtocol protocol = XdsProtocol.StateOfTheWorld, string? sdsSocketPath = null)
    {
        if (Tls is not null && sdsSocketPath is null)
        {
            throw new ArgumentNullException(nameof(sdsSocketPath), "Over mutual TLS, Envoy needs an agent's SDS socket.");
        }

        return new()
        {
            XdsServerIdentity = Tls?.ServerIdentity,
            SdsSocketPath = sdsSocketPath ?? EnvoyBootstrapOptions.DefaultSdsSocketPath,
            NodeId = nodeId ?? $"{nodeGroup}~{Guid.NewGuid():N}",
            NodeCluster = nodeGroup,
            XdsHost = "127.0.0.1",
            XdsPort = Port,
            Protocol = protocol,
            AdminAddress = "127.0.0.1",
            AdminPort = 0,
            IncludeSdsCluster = Tls is not null,
            HealthPort = null,
            XdsConnectTimeout = TimeSpan.FromSeconds(1),
            InitialFetchTimeout = TimeSpan.FromSeconds(10),
        };
    }

    /// <summary>A JSON bootstrap pointing at this server.</summary>
    public string CreateBootstrap(string nodeGroup, string? nodeId = null, XdsProtocol protocol = XdsProtocol.StateOfTheWorld, string? sdsSocketPath = null) =>
        EnvoyBootstrapBuilder.RenderJson(EnvoyBootstrapBuilder.Build(CreateBootstrapOptions(nodeGroup, nodeId, protocol, sdsSocketPath)));

    /// <summary>Starts a real Envoy of <paramref name="nodeGroup"/> against this server and waits until it is LIVE.</summary>
    public Task<EnvoyProcess> StartEnvoyAsync(
        string nodeGroup,
        string? nodeId = null,
        XdsProtocol protocol = XdsProtocol.StateOfTheWorld,
        EnvoyStartOptions? options = null,
        string? sdsSocketPath = null,
        CancellationToken cancellationToken = default) =>
        EnvoyProcess.StartAsync(CreateBootstrap(nodeGroup, nodeId, protocol, sdsSocketPath), options, cancellationToken);

    /// <summary>Waits until <paramref name="condition"/> holds on <see cref="Status"/> (re-checked on every change).</summary>
    public async Task WaitUntilAsync(Func<XdsServerStatus, bool> condition, string description, TimeSpan? timeout = null)
    {
        var limit = timeout ?? TimeSpan.FromSeconds(20);
        using var cts = new CancellationTokenSource(limit);
        try
        {
            await Status.WaitUntilAsync(condition, cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            throw new TimeoutException($"Timed out after {limit} waiting for {description}. Streams: " +
                System.Text.Json.JsonSerializer.Serialize(Status.GetStreams(), XdsDebugView.JsonOptions));
        }
    }

    /// <summary>Waits until <paramref name="nodeId"/> has ACKed <paramref name="version"/> of <paramref name="typeUrl"/>.</summary>
    public Task WaitForAckAsync(string nodeId, string typeUrl, string version, TimeSpan? timeout = null) =>
        WaitUntilAsync(s => s.GetAckedVersion(nodeId, typeUrl) == version, $"node '{nodeId}' to ACK {typeUrl} version {version}", timeout);

    /// <summary>Waits until <paramref name="nodeId"/> has ACKed the whole current snapshot of its group (every type it subscribes to).</summary>
    public Task WaitForSnapshotAckedAsync(string nodeId, string nodeGroup, TimeSpan? timeout = null) =>
        WaitUntilAsync(
            s => Cache.TryGetSnapshot(nodeGroup, out var snapshot) && s.GetStreams(nodeId) is { Count: > 0 } streams &&
                 streams[^1].Types.All(t => t.LastAckedVersion == snapshot.GetVersion(t.TypeUrl) || t.LastNack?.Version == t.LastSentVersion),
            $"node '{nodeId}' to ACK the snapshot of '{nodeGroup}'",
            timeout);

    /// <summary>Waits for a NACK of <paramref name="typeUrl"/> by <paramref name="nodeId"/> and returns it.</summary>
    public async Task<XdsNackRecord> WaitForNackAsync(string nodeId, string typeUrl, TimeSpan? timeout = null)
    {
        await WaitUntilAsync(s => s.GetLastNack(nodeId, typeUrl) is not null, $"node '{nodeId}' to NACK {typeUrl}", timeout).ConfigureAwait(false);
        return Status.GetLastNack(nodeId, typeUrl)!;
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _tlsDirectory?.Dispose();
    }

    private async Task StartCoreAsync(IPEndPoint endPoint, CancellationToken cancellationToken)
    {
        var status = new XdsServerStatus();
        var logs = new FakeLogCollector();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Debug);
        builder.Logging.AddProvider(new FakeLoggerProvider(logs));
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(5));
        builder.Services.AddSingleton(Cache);
        builder.Services.AddSingleton(status);
        builder.Services.AddWaypointXdsServer(o =>
        {
            o.ListenEndPoint = endPoint;
            o.Transport = Tls is null ? XdsTransportSecurity.Plaintext : XdsTransportSecurity.MutualTls;
        });
        if (Tls is { } tls)
        {
            var identity = new AgentOptions { Namespace = tls.Namespace, ServiceAccount = tls.ServiceAccount };
            tls.Ca.Configure(identity, _tlsDirectory!.Path);
            builder.Services.AddWorkloadCertificate(o => TestWorkloadAgent.CopyTo(identity, o));
            builder.Services.AddSingleton(tls.Groups);
        }

        _configureServices?.Invoke(builder.Services);
        builder.WebHost.ConfigureKestrel(k => k.ListenWaypointXds(endPoint));
        var app = builder.Build();
        app.MapWaypointXds();
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        if (Tls is not null)
        {
            await app.Services.GetRequiredService<WorkloadCertificateManager>().WaitForCertificateAsync(cancellationToken)
                .WaitAsync(TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);
        }

        var bound = new Uri(app.Urls.First());
        EndPoint = new IPEndPoint(IPAddress.Loopback, bound.Port);
        Status = status;
        Logs = logs;
        _app = app;
    }
}
