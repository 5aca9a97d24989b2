using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;
using Waypoint.Ztunnel.Config;
using Waypoint.Ztunnel.Discovery;
using Waypoint.Ztunnel.Identity;
using Waypoint.Ztunnel.Mesh;

namespace Waypoint.Ztunnel;

/// <summary>
/// The ztunnel roles of one node, in the node's network namespace: istiod's WDS (over 15012, TLS to the mesh root,
/// authenticated as the ztunnel's own ServiceAccount) gives the mesh view; the node's runtime gives the pods'
/// network namespaces; each ServiceAccount with enrolled pods gets a certificate; one real Envoy serves every pod,
/// its listeners bound inside the pods' namespaces, configured by files it watches (no restart on change). Watch
/// (WDS, pod networks, certificate deadlines) → model → idempotent write; a failed round keeps the last config.
/// </summary>
public sealed class ZtunnelNode : IAsyncDisposable
{
    private static readonly TimeSpan s_ownTokenLifetime = TimeSpan.FromMinutes(10);

    private readonly ZtunnelOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly KubernetesTokens _tokens;
    private readonly ServiceAccountCertificates _certificates;
    private readonly PodRoutes _routes;
    private readonly CancellationTokenSource _stop = new();
    private readonly Process _envoy;
    private readonly GrpcChannel _channel;
    private Task _discovery = Task.CompletedTask;
    private Task _loop = Task.CompletedTask;
    private long _generation;
    private string? _lastWritten;
    private readonly HashSet<string> _annotated = new(StringComparer.Ordinal);

    private ZtunnelNode(ZtunnelOptions options, ZtunnelPaths paths, ILoggerFactory loggerFactory, TimeProvider time, Process envoy, GrpcChannel channel, KubernetesTokens tokens)
    {
        _options = options;
        Paths = paths;
        _logger = loggerFactory.CreateLogger<ZtunnelNode>();
        _time = time;
        _envoy = envoy;
        _channel = channel;
        _tokens = tokens;
        _certificates = new ServiceAccountCertificates(options, paths, tokens, loggerFactory, time);
        _routes = new PodRoutes(_logger);
        Discovery = new WorkloadDiscoveryClient(
            channel,
            new ZtunnelIdentity($"ztunnel-{options.NodeName}", options.IstioNamespace, options.ServiceAccount, options.NodeName, options.NodeAddress.ToString(), options.ClusterId),
            loggerFactory.CreateLogger<WorkloadDiscoveryClient>(),
            time);
    }

    public ZtunnelPaths Paths { get; }

    public WorkloadDiscoveryClient Discovery { get; }

    public int EnvoyProcessId => _envoy.Id;

    /// <summary>The node id istiod sees (and Envoy reports).</summary>
    public string NodeId => NodeIdOf(_options);

    /// <summary>Starts once istiod has published its root; returns when Envoy is ready (its config may still be empty).</summary>
    public static async Task<ZtunnelNode> StartAsync(ZtunnelOptions options, ILoggerFactory loggerFactory, TimeProvider? time = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        time ??= TimeProvider.System;
        var paths = new ZtunnelPaths(options.RootDirectory);
        ZtunnelFiles.CreatePrivateDirectory(paths.Root);
        ZtunnelFiles.CreatePrivateDirectory(paths.ConfigDirectory);
        ZtunnelFiles.CreatePrivateDirectory(paths.KeyDirectory);

        var tokens = new KubernetesTokens(options.ApiClient);
        string? root;
        while ((root = await tokens.ReadMeshRootAsync(options.IstioNamespace, cancellationToken).ConfigureAwait(false)) is null)
        {
            // istiod writes the ConfigMap right after it becomes ready.
            await Task.Delay(TimeSpan.FromMilliseconds(200), time, cancellationToken).ConfigureAwait(false);
        }

        ZtunnelFiles.WritePublic(paths.RootCertificate, root);
        await tokens.EnsureServiceAccountAsync(options.IstioNamespace, options.ServiceAccount, cancellationToken).ConfigureAwait(false);

        var empty = ZtunnelEnvoyConfig.Build(new NodeMeshModel(options.NodeName, options.TrustDomain, [], [], 0), paths);
        ZtunnelFiles.WritePrivate(paths.Clusters, empty.Clusters);
        ZtunnelFiles.WritePrivate(paths.Listeners, empty.Listeners);
        var channel = CreateIstiodChannel(options, paths, tokens);
        var envoy = StartEnvoy(options, paths);
        var node = new ZtunnelNode(options, paths, loggerFactory, time, envoy, channel, tokens);
        try
        {
            await node.WaitForEnvoyAsync(cancellationToken).ConfigureAwait(false);
            node._discovery = node.Discovery.RunAsync(node._stop.Token);
            node._loop = node.RunAsync(node._stop.Token);
            ZtunnelLog.Started(node._logger, options.NodeName, envoy.Id, options.AdminPort, paths.Root);
            return node;
        }
        catch
        {
            await node.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(_discovery, _loop).ConfigureAwait(false);
        if (!_envoy.HasExited)
        {
            _envoy.Kill();
            await _envoy.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        }

        _envoy.Dispose();
        _channel.Dispose();
        _certificates.Dispose();
        _stop.Dispose();
    }

    private static Process StartEnvoy(ZtunnelOptions options, ZtunnelPaths paths)
    {
        var start = new ProcessStartInfo(options.EnvoyPath) { UseShellExecute = false, RedirectStandardOutput = false, RedirectStandardError = false };
        foreach (var argument in (string[])["-c", paths.Bootstrap, "--disable-hot-restart", "-l", "warn", "--log-path", paths.EnvoyLog, "--concurrency", "1"])
        {
            start.ArgumentList.Add(argument);
        }

        ZtunnelFiles.WritePrivate(paths.Bootstrap, ZtunnelEnvoyConfig.Bootstrap(NodeIdOf(options), paths, options.AdminPort));
        return Process.Start(start) ?? throw new InvalidOperationException($"Envoy ({options.EnvoyPath}) could not be started.");
    }

    private static string NodeIdOf(ZtunnelOptions options) =>
        $"ztunnel~{options.NodeAddress}~ztunnel-{options.NodeName}.{options.IstioNamespace}~{options.IstioNamespace}.svc.cluster.local";

    private async Task WaitForEnvoyAsync(CancellationToken cancellationToken)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var ready = new Uri($"http://127.0.0.1:{_options.AdminPort.ToString(CultureInfo.InvariantCulture)}/ready");
        while (true)
        {
            if (_envoy.HasExited)
            {
                throw new InvalidOperationException($"The ztunnel's Envoy exited with code {_envoy.ExitCode}; see {Paths.EnvoyLog}.");
            }

            try
            {
                using var response = await http.GetAsync(ready, cancellationToken).ConfigureAwait(false);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100), _time, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        long seenRevision = -1;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                var view = Discovery.View;
                seenRevision = view.Revision;
                await ReconcileAsync(view, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
#pragma warning disable CA1031 // a failed round (API server, istiod, a file) keeps the last config and is retried; it must not end the loop
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
#pragma warning restore CA1031
            {
                ZtunnelLog.ReconcileFailed(_logger, ex);
            }

            if (_envoy.HasExited)
            {
                ZtunnelLog.EnvoyExited(_logger, _envoy.ExitCode, Paths.EnvoyLog);
                return;
            }

            // Next round: a new mesh view, the resync tick (pods appear in the runtime first), or a certificate deadline.
            var wait = _options.ResyncInterval;
            if (_certificates.NextDue is { } due && due - _time.GetUtcNow() < wait)
            {
                wait = TimeSpan.FromTicks(Math.Max(0, (due - _time.GetUtcNow()).Ticks));
            }

            using var round = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var changed = Discovery.WaitForAsync(v => v.Revision != seenRevision, round.Token);
            try
            {
                await Task.WhenAny(changed, Task.Delay(wait, _time, round.Token)).ConfigureAwait(false);
            }
            finally
            {
                await round.CancelAsync().ConfigureAwait(false);
            }
        }
    }

    private async Task ReconcileAsync(MeshView view, CancellationToken cancellationToken)
    {
        var ambient = await _tokens.ListAmbientNamespacesAsync(cancellationToken).ConfigureAwait(false);
        var optedOut = await _tokens.ListOptedOutPodsAsync(_options.NodeName, cancellationToken).ConfigureAwait(false);
        var model = NodeMesh.Build(view, _options.PodNetworks(), ambient, optedOut, _options.NodeName, _options.TrustDomain);
        await _certificates.EnsureAsync(model.ServiceAccounts, cancellationToken).ConfigureAwait(false);
        var served = model.WithIdentities(_certificates.Ready);

        // Routes before listeners: a listener cannot bind a VIP that is not local in the pod's namespace.
        await _routes.EnsureAsync(served.Pods, served.Services.Select(s => s.Vip).ToHashSet(), cancellationToken).ConfigureAwait(false);
        var documents = ZtunnelEnvoyConfig.Build(served with { Revision = 0 }, Paths);
        var fingerprint = documents.Clusters + documents.Listeners;
        if (fingerprint != _lastWritten)
        {
            WriteConfig(served, documents, fingerprint);
        }

        _certificates.RemoveAllBut(model.ServiceAccounts);

        // Capture is in place (routes, listeners): say so, as istio-cni does, and istiod starts reporting HBONE.
        _annotated.IntersectWith(served.Pods.Select(AnnotationKey));
        foreach (var pod in served.Pods.Where(p => !p.Captured && !_annotated.Contains(AnnotationKey(p))))
        {
            await _tokens.AnnotateCapturedAsync(pod.Namespace, pod.Name, cancellationToken).ConfigureAwait(false);
            _annotated.Add(AnnotationKey(pod));
        }
    }

    private static string AnnotationKey(EnrolledPod pod) => $"{pod.Key}@{pod.NetworkNamespacePath}";

    private void WriteConfig(NodeMeshModel served, ZtunnelEnvoyDocuments documents, string fingerprint)
    {
        // Clusters first: a new listener must find its cluster.
        ZtunnelFiles.WritePrivate(Paths.Clusters, documents.Clusters);
        ZtunnelFiles.WritePrivate(Paths.Listeners, documents.Listeners);
        _lastWritten = fingerprint;
        _generation++;
        ZtunnelFiles.WritePublic(Paths.Status, ZtunnelStatus.From(served, served.ServiceAccounts.Select(a => a.SpiffeId(_options.TrustDomain)), _generation, _time.GetUtcNow()).ToJson());
        ZtunnelLog.ConfigWritten(_logger, served.Revision, served.Pods.Count, served.Services.Count, served.ServiceAccounts.Count);
    }

    /// <summary>A TLS channel to istiod that trusts only the mesh root and sends a fresh token of the ztunnel's own ServiceAccount.</summary>
    private static GrpcChannel CreateIstiodChannel(ZtunnelOptions options, ZtunnelPaths paths, KubernetesTokens tokens)
    {
        var roots = new X509Certificate2Collection();
        roots.ImportFromPemFile(paths.RootCertificate);
        var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck, DisableCertificateDownloads = true };
        policy.CustomTrustStore.AddRange(roots);
        var endpoint = options.IstiodEndpoint;
        var handler = new SocketsHttpHandler
        {
            EnableMultipleHttp2Connections = false,
            ConnectTimeout = TimeSpan.FromSeconds(10),
            SslOptions = new SslClientAuthenticationOptions { CertificateChainPolicy = policy },
            ConnectCallback = async (_, ct) =>
            {
                var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    await socket.ConnectAsync(endpoint, ct).ConfigureAwait(false);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        var token = new OwnToken(tokens, options);
        var credentials = CallCredentials.FromInterceptor(async (_, metadata) => metadata.Add("authorization", "Bearer " + await token.GetAsync().ConfigureAwait(false)));
        return GrpcChannel.ForAddress(
            new UriBuilder(Uri.UriSchemeHttps, options.IstiodHost, endpoint.Port).Uri,
            new GrpcChannelOptions { HttpHandler = handler, DisposeHttpClient = true, Credentials = ChannelCredentials.Create(ChannelCredentials.SecureSsl, credentials) });
    }

    /// <summary>The ztunnel's own token, renewed at half its life (asked only when a stream opens).</summary>
#pragma warning disable CA1001 // see _gate
    private sealed class OwnToken(KubernetesTokens tokens, ZtunnelOptions options)
    {
        // A Lock cannot be held across an await; the channel lives as long as the node, so this is never disposed.
        private readonly SemaphoreSlim _gate = new(1, 1);
        private string? _token;
        private DateTimeOffset _renewAt;

        public async Task<string> GetAsync()
        {
            await _gate.WaitAsync().ConfigureAwait(false);
            try
            {
                if (_token is null || DateTimeOffset.UtcNow >= _renewAt)
                {
                    _token = await tokens.RequestTokenAsync(options.IstioNamespace, options.ServiceAccount, s_ownTokenLifetime, CancellationToken.None).ConfigureAwait(false);
                    _renewAt = DateTimeOffset.UtcNow + (s_ownTokenLifetime / 2);
                }

                return _token;
            }
            finally
            {
                _gate.Release();
            }
        }
    }
#pragma warning restore CA1001
}
