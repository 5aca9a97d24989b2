using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Waypoint.Agent.DevCa;
using Waypoint.Local.Certificates;
using Waypoint.Local.Configuration;
using Waypoint.Local.Echo;
using Waypoint.Local.Envoy;
using Waypoint.Local.State;
using Waypoint.Local.Topology;
using Waypoint.Local.Waypoint;
using Waypoint.Local.Ztunnel;
using Waypoint.Translator;
using Waypoint.Xds;

namespace Waypoint.Local;

/// <summary>What one configuration apply did.</summary>
/// <param name="Generation">Counts applies that changed the pushed configuration (1 = the first).</param>
/// <param name="Versions">The xDS snapshot version pushed to each waypoint (node group).</param>
/// <param name="Problems">Load and translation problems, each naming its object (route conditions that are False).</param>
/// <param name="Rejected">True when the directory could not be loaded and the previous configuration stays.</param>
public sealed record LocalApplyResult(long Generation, IReadOnlyDictionary<string, string> Versions, IReadOnlyList<string> Problems, bool Rejected);

/// <summary>
/// A one-machine ambient mesh of real Envoys on loopback addresses: the waypoint Envoy (xDS and SDS from our
/// server and agent), a client-side HBONE originator, destination HBONE terminators and echo apps, driven by a
/// directory of Kubernetes YAML.
/// </summary>
/// <remarks>
/// Addresses: Service VIPs 127.10.x.y, pod IPs 127.20.x.y, waypoints 127.30.x.y (stable per object; a Service's
/// clusterIP or a Pod's podIP inside 127/8 is kept). Send requests to a VIP:port (or use <see cref="CreateHttpClient"/>,
/// which resolves <c>svc.ns.svc.cluster.local</c>); they enter the client originator as plain TCP.
/// </remarks>
public sealed class LocalRig : IAsyncDisposable
{
    private readonly LocalRigOptions _options;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly string _workDirectory;
    private readonly DevCertificateAuthority _authority;
    private readonly LocalControlPlane _controlPlane;
    private readonly RigCertificates _certificates;
    private readonly WaypointTranslator _translator;
    private readonly SemaphoreSlim _applyLock = new(1, 1);
    private readonly Dictionary<string, EchoApp> _apps = new(StringComparer.Ordinal);
    private readonly Dictionary<string, LocalWaypointProxy> _waypoints = new(StringComparer.Ordinal);
    private ConfigDirectoryWatcher? _watcher;
    private EnvoyInstance? _inbound;
    private string? _inboundBootstrap;
    private EnvoyInstance? _outbound;
    private string? _outboundBootstrap;
    private long _generation;
    private long _envoySerial;
    private volatile LocalTopology _topology;
    private WebApplication? _transformation;
    private volatile TranslationResult? _lastTranslation;
    private volatile Dictionary<WaypointKey, string> _bindAddresses = [];
    private volatile LocalApplyResult _lastApply = new(0, new Dictionary<string, string>(), [], Rejected: false);

    private LocalRig(LocalRigOptions options, ILoggerFactory loggerFactory, string workDirectory, DevCertificateAuthority authority, LocalControlPlane controlPlane, LocalTopology topology)
    {
        _options = options;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger<LocalRig>();
        _workDirectory = workDirectory;
        _authority = authority;
        _controlPlane = controlPlane;
        _certificates = new RigCertificates(authority, Path.Combine(workDirectory, "certs"));
        // One transformation service serves every waypoint of the rig: it is stateless (each route carries its
        // transformation in the ext_proc metadata), so sharing it is equivalent to one per waypoint pod.
        // Every waypoint Envoy of the rig shares this host, so each binds HBONE on its own loopback address (a pod
        // binds its wildcard): the translator is told the address, and its output is served exactly as it is.
        _translator = new WaypointTranslator(new TranslatorOptions
        {
            TrustDomain = options.TrustDomain,
            HboneBindAddressOf = key => _bindAddresses.TryGetValue(key, out var address) ? address : null,
            TransformationSocketPath = Path.Combine(workDirectory, "transformation.sock"),
        });
        _topology = topology;
    }

    /// <summary>Raised after every apply (including rejected reloads).</summary>
    public event Action<LocalApplyResult>? Applied;

    public LocalRigOptions Options => _options;

    /// <summary>The topology now serving.</summary>
    public LocalTopology Topology => _topology;

    public LocalApplyResult LastApply => _lastApply;

    /// <summary>The translation last pushed (statuses of Gateways, HTTPRoutes and TrafficPolicies).</summary>
    public TranslationResult? LastTranslation => _lastTranslation;

    /// <summary>Every request the echo apps served.</summary>
    public EchoRecorder Recorder { get; } = new();

    public LocalControlPlane ControlPlane => _controlPlane;

    public RigCertificates Certificates => _certificates;

    public EnvoyInstance? ClientOriginator => _outbound;

    public EnvoyInstance? DestinationTerminators => _inbound;

    public IReadOnlyDictionary<string, LocalWaypointProxy> Waypoints => _waypoints;

    /// <summary>The SPIFFE ID the client originator presents.</summary>
    public string ClientIdentity => _topology.SpiffeId(_options.ClientNamespace, _options.ClientServiceAccount);

    /// <summary>Loads the directory, brings every piece up and waits until each reports ready.</summary>
    /// <exception cref="LocalRigException">The configuration is invalid or a piece failed to start; the message names the cause.</exception>
    public static async Task<LocalRig> StartAsync(LocalRigOptions options, ILoggerFactory? loggerFactory = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        loggerFactory ??= NullLoggerFactory.Instance;
        var binary = options.EnvoyBinary ?? EnvoyLocator.Locate();
        options = options with { EnvoyBinary = binary, ConfigDirectory = Path.GetFullPath(options.ConfigDirectory) };
        var topology = LoadTopology(options);
        if (topology.Errors.Count > 0)
        {
            throw new LocalRigException($"The configuration in '{options.ConfigDirectory}' has errors:\n  " + string.Join("\n  ", topology.Errors));
        }

        // Unix socket paths are limited to 107 bytes: keep the work directory short.
        var workDirectory = Directory.CreateTempSubdirectory("wpl-").FullName;
        var authority = DevCertificateAuthority.Create(options.TrustDomain);
        LocalControlPlane? controlPlane = null;
        LocalRig? rig = null;
        try
        {
            controlPlane = await LocalControlPlane.StartAsync(authority, loggerFactory, cancellationToken).ConfigureAwait(false);
            rig = new LocalRig(options, loggerFactory, workDirectory, authority, controlPlane, topology);
            await rig.StartTransformationServiceAsync(cancellationToken).ConfigureAwait(false);
            await rig.ApplyAsync(topology, cancellationToken).ConfigureAwait(false);
            if (options.Watch)
            {
                rig._watcher = new ConfigDirectoryWatcher(options.ConfigDirectory, options.WatchDebounce, rig.ReloadAsync, loggerFactory.CreateLogger<ConfigDirectoryWatcher>());
            }

            return rig;
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            if (rig is not null)
            {
                await rig.DisposeAsync().ConfigureAwait(false);
            }
            else if (controlPlane is not null)
            {
                await controlPlane.DisposeAsync().ConfigureAwait(false);
                authority.Dispose();
            }

            throw ex is LocalRigException ? ex : new LocalRigException($"The local rig did not start: {ex.Message}", ex);
        }
    }

    /// <summary>Re-reads the configuration directory and applies it; an unreadable directory keeps the previous configuration.</summary>
    public async Task<LocalApplyResult> ReloadAsync(CancellationToken cancellationToken = default)
    {
        LocalTopology topology;
        try
        {
            topology = LoadTopology(_options);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            return Reject([$"The configuration could not be read: {ex.Message}"]);
        }

        if (topology.Errors.Count > 0)
        {
            return Reject(topology.Errors);
        }

        return await ApplyAsync(topology, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Applies <paramref name="topology"/>: translate and push, then add, replace or remove rig pieces as needed.</summary>
    public async Task<LocalApplyResult> ApplyAsync(LocalTopology topology, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(topology);
        await _applyLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var problems = new List<string>(topology.Errors.Concat(topology.Warnings));
            _bindAddresses = topology.Waypoints.ToDictionary(w => new WaypointKey(w.Namespace, w.Name), w => w.Address.ToString());
            var translation = _translator.Translate(topology.Snapshot);
            _lastTranslation = translation;
            problems.AddRange(DescribeProblems(translation));
            var versions = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var waypoint in topology.Waypoints)
            {
                var key = new WaypointKey(waypoint.Namespace, waypoint.Name);
                if (!translation.Waypoints.TryGetValue(key, out var resources))
                {
                    problems.Add($"Gateway {waypoint.Namespace}/{waypoint.Name} was not accepted as a waypoint; its Envoy serves nothing.");
                    _controlPlane.Cache.SetSnapshot(waypoint.Key, XdsSnapshot.Empty);
                    versions[waypoint.Key] = XdsSnapshot.Empty.Version;
                    continue;
                }

                // Served exactly as the translator encoded it, as the controller serves it.
                var snapshot = XdsSnapshot.Create(resources.Encoded.Select(e => XdsResource.FromEncoded(e.TypeUrl, e.Name, e.Message, e.Bytes)));
                _controlPlane.Cache.SetSnapshot(waypoint.Key, snapshot);
                versions[waypoint.Key] = snapshot.Version;
            }

            foreach (var stale in _controlPlane.Cache.NodeGroups.Where(g => !versions.ContainsKey(g)).ToList())
            {
                _controlPlane.Cache.RemoveSnapshot(stale);
            }

            await ApplyAppsAsync(topology, cancellationToken).ConfigureAwait(false);
            await ApplyInboundAsync(topology, cancellationToken).ConfigureAwait(false);
            await ApplyWaypointsAsync(topology, cancellationToken).ConfigureAwait(false);
            await ApplyOutboundAsync(topology, cancellationToken).ConfigureAwait(false);
            _topology = topology;
            WriteState();

            var generation = Interlocked.Increment(ref _generation);
            var result = new LocalApplyResult(generation, versions, problems, Rejected: false);
            _lastApply = result;
            foreach (var problem in problems)
            {
                LocalRigLog.ConfigurationProblem(_logger, problem);
            }

            LocalRigLog.Applied(_logger, generation, topology.Services.Count, topology.Pods.Count, topology.Waypoints.Count);
            Applied?.Invoke(result);
            return result;
        }
        finally
        {
            _applyLock.Release();
        }
    }

    /// <summary>Completes when every waypoint Envoy has ACKed the listeners, routes and clusters of <paramref name="result"/>.</summary>
    public Task WaitForAckAsync(LocalApplyResult result, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(result);
        return _controlPlane.Status.WaitUntilAsync(
            status => result.Versions.All(v =>
                _waypoints.TryGetValue(v.Key, out var proxy)
                && _controlPlane.Cache.TryGetSnapshot(v.Key, out var snapshot)
                && snapshot.Version == v.Value
                && XdsTypeUrls.PushOrder
                    .Where(t => t is XdsTypeUrls.Listener or XdsTypeUrls.Cluster || (t is XdsTypeUrls.RouteConfiguration && snapshot.Routes.Resources.Count > 0))
                    .All(t => status.GetAckedVersion(proxy.NodeId, t) == snapshot.GetVersion(t))),
            cancellationToken);
    }

    /// <summary>
    /// An HTTP client whose connections enter the mesh at the client originator: host names
    /// <c>svc</c>, <c>svc.ns</c>, <c>svc.ns.svc.cluster.local</c> resolve to the Service VIP.
    /// </summary>
    public HttpClient CreateHttpClient(TimeSpan? timeout = null)
    {
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseProxy = false,
            UseCookies = false,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
            ConnectCallback = async (context, cancellationToken) =>
            {
                var address = Resolve(context.DnsEndPoint.Host);
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    await socket.ConnectAsync(new IPEndPoint(address, context.DnsEndPoint.Port), cancellationToken).ConfigureAwait(false);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        return new HttpClient(handler) { Timeout = timeout ?? TimeSpan.FromSeconds(30) };
    }

    /// <summary>The VIP of a Service host name (any short form) or a literal address.</summary>
    public IPAddress Resolve(string host)
    {
        if (IPAddress.TryParse(host, out var literal))
        {
            return literal;
        }

        return _topology.ResolveHost(host)?.Address
            ?? throw new HttpRequestException($"'{host}' is not a Service of the local mesh (known: {string.Join(", ", _topology.Services.Select(s => s.Hostname))}).");
    }

    public async ValueTask DisposeAsync()
    {
        _watcher?.Dispose();
        await _applyLock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_outbound is not null)
            {
                await _outbound.DisposeAsync().ConfigureAwait(false);
            }

            foreach (var proxy in _waypoints.Values)
            {
                await proxy.DisposeAsync().ConfigureAwait(false);
            }

            if (_inbound is not null)
            {
                await _inbound.DisposeAsync().ConfigureAwait(false);
            }

            foreach (var app in _apps.Values)
            {
                await app.DisposeAsync().ConfigureAwait(false);
            }

            if (_transformation is not null)
            {
                await _transformation.StopAsync(CancellationToken.None).ConfigureAwait(false);
                await _transformation.DisposeAsync().ConfigureAwait(false);
            }

            await _controlPlane.DisposeAsync().ConfigureAwait(false);
            _authority.Dispose();
            if (_options.StateFile is { } stateFile && LocalRigState.TryRead(stateFile)?.ProcessId == Environment.ProcessId)
            {
                File.Delete(stateFile);
            }

            TryDeleteDirectory(_workDirectory);
        }
        finally
        {
            _applyLock.Release();
        }
    }

    /// <summary>The waypoint agent's TrafficPolicy transformation service (ext_proc) on the socket the translator points Envoy at.</summary>
    private async Task StartTransformationServiceAsync(CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = _workDirectory });
        builder.Logging.ClearProviders();
        builder.Services.Replace(ServiceDescriptor.Singleton(_loggerFactory));
        builder.Services.AddWaypointTransformation();
        builder.WebHost.ConfigureKestrel(k => k.ListenWaypointTransformation(_translator.Options.TransformationSocketPath));
        var app = builder.Build();
        app.MapWaypointTransformation();
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        _transformation = app;
    }

    private static LocalTopology LoadTopology(LocalRigOptions options) =>
        LocalTopologyLoader.LoadDirectory(options.ConfigDirectory, options.TrustDomain);

    private static IEnumerable<string> DescribeProblems(TranslationResult translation)
    {
        foreach (var gateway in translation.Gateways)
        {
            foreach (var condition in gateway.Conditions.Where(c => c.Status == "False"))
            {
                yield return $"Gateway {gateway.Key.Namespace}/{gateway.Key.Name}: {condition.Type}=False ({condition.Reason}): {condition.Message}";
            }
        }

        foreach (var route in translation.Routes)
        {
            foreach (var parent in route.Parents)
            {
                foreach (var condition in parent.Conditions.Where(c => c.Status == "False"))
                {
                    yield return $"HTTPRoute {route.Namespace}/{route.Name} (parent {parent.ParentRef.Name}): {condition.Type}=False ({condition.Reason}): {condition.Message}";
                }
            }
        }

        foreach (var policy in translation.Policies)
        {
            foreach (var ancestor in policy.Ancestors)
            {
                foreach (var condition in ancestor.Conditions.Where(c => c.Status == "False"))
                {
                    yield return $"TrafficPolicy {policy.Namespace}/{policy.Name} (target {ancestor.AncestorRef.Kind} {ancestor.AncestorRef.Name}): {condition.Type}=False ({condition.Reason}): {condition.Message}";
                }
            }
        }
    }

    private LocalApplyResult Reject(IReadOnlyList<string> problems)
    {
        foreach (var problem in problems)
        {
            LocalRigLog.ConfigurationProblem(_logger, problem);
        }

        LocalRigLog.ReloadRejected(_logger, problems.Count);
        var result = _lastApply with { Problems = problems, Rejected = true };
        Applied?.Invoke(result);
        return result;
    }

    private async Task ApplyAppsAsync(LocalTopology topology, CancellationToken cancellationToken)
    {
        var wanted = topology.Pods.ToDictionary(
            p => p.Key,
            p => new EchoAppOptions
            {
                Pod = p.Name,
                Namespace = p.Namespace,
                Address = p.Address,
                HttpPorts = p.Ports.Where(x => x.Protocol == LocalProtocol.Http).Select(x => x.Port).ToArray(),
                TcpPorts = p.Ports.Where(x => x.Protocol == LocalProtocol.Tcp).Select(x => x.Port).ToArray(),
            },
            StringComparer.Ordinal);
        foreach (var (key, app) in _apps.ToList())
        {
            if (!wanted.TryGetValue(key, out var options) || !SameApp(options, app.Options))
            {
                await app.DisposeAsync().ConfigureAwait(false);
                _apps.Remove(key);
            }
        }

        foreach (var (key, options) in wanted)
        {
            if (!_apps.ContainsKey(key))
            {
                _apps[key] = await EchoApp.StartAsync(options, Recorder, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private static bool SameApp(EchoAppOptions a, EchoAppOptions b) =>
        a.Address.Equals(b.Address) && a.HttpPorts.SequenceEqual(b.HttpPorts) && a.TcpPorts.SequenceEqual(b.TcpPorts);

    private async Task ApplyInboundAsync(LocalTopology topology, CancellationToken cancellationToken)
    {
        var bootstrap = ZtunnelBootstraps.Inbound(
            topology,
            pod => _certificates.For(topology.SpiffeId(pod.Namespace, pod.ServiceAccount)),
            _certificates.RootPath);
        (_inbound, _inboundBootstrap) = await ReplaceAsync(_inbound, _inboundBootstrap, bootstrap, "ztunnel-inbound", cancellationToken).ConfigureAwait(false);
    }

    private async Task ApplyOutboundAsync(LocalTopology topology, CancellationToken cancellationToken)
    {
        var client = _certificates.For(topology.SpiffeId(_options.ClientNamespace, _options.ClientServiceAccount));
        var bootstrap = ZtunnelBootstraps.Outbound(topology, client, _certificates.RootPath);
        (_outbound, _outboundBootstrap) = await ReplaceAsync(_outbound, _outboundBootstrap, bootstrap, "ztunnel-outbound", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Starts an Envoy with a changed static bootstrap before stopping the old one (listeners use SO_REUSEPORT, so
    /// both can hold the same addresses briefly); an unchanged bootstrap keeps the running process.
    /// </summary>
    private async Task<(EnvoyInstance, string)> ReplaceAsync(EnvoyInstance? current, string? currentBootstrap, string bootstrap, string role, CancellationToken cancellationToken)
    {
        if (current is not null && !current.HasExited && currentBootstrap == bootstrap)
        {
            return (current, bootstrap);
        }

        var next = await EnvoyInstance.StartAsync(
            new EnvoyInstanceOptions
            {
                Role = role,
                Bootstrap = bootstrap,
                Binary = _options.EnvoyBinary,
                WorkDirectory = Path.Combine(_workDirectory, $"{role}-{Interlocked.Increment(ref _envoySerial)}"),
                LogLevel = _options.EnvoyLogLevel,
                Concurrency = _options.EnvoyConcurrency,
            },
            _logger,
            cancellationToken).ConfigureAwait(false);
        if (current is not null)
        {
            await current.DisposeAsync().ConfigureAwait(false);
        }

        return (next, bootstrap);
    }

    private async Task ApplyWaypointsAsync(LocalTopology topology, CancellationToken cancellationToken)
    {
        foreach (var (key, proxy) in _waypoints.ToList())
        {
            if (topology.Waypoints.FirstOrDefault(w => w.Key == key) is not { } wanted || wanted != proxy.Waypoint)
            {
                await proxy.DisposeAsync().ConfigureAwait(false);
                _waypoints.Remove(key);
            }
        }

        foreach (var waypoint in topology.Waypoints)
        {
            if (!_waypoints.ContainsKey(waypoint.Key))
            {
                _waypoints[waypoint.Key] = await LocalWaypointProxy.StartAsync(
                    waypoint,
                    _controlPlane,
                    Path.Combine(_workDirectory, $"wp{_waypoints.Count}"),
                    _options.TrustDomain,
                    _options.EnvoyBinary,
                    _options.EnvoyLogLevel,
                    _loggerFactory,
                    cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private void WriteState()
    {
        if (_options.StateFile is { } path)
        {
            LocalRigState.From(_topology, _options.ConfigDirectory, _waypoints.ToDictionary(w => w.Key, w => w.Value.Envoy.AdminUri)).Write(path);
        }
    }

    private static void TryDeleteDirectory(string directory)
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Best effort: a leftover temp directory is harmless.
        }
    }
}

/// <summary>The rig could not start or apply; the message names the cause.</summary>
public sealed class LocalRigException : Exception
{
    public LocalRigException()
    {
    }

    public LocalRigException(string message)
        : base(message)
    {
    }

    public LocalRigException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
