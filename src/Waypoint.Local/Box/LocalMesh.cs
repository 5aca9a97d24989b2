using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Waypoint.Box;
using Waypoint.Box.Apply;
using Waypoint.Box.Product;
using Waypoint.Local.Configuration;

namespace Waypoint.Local.Box;

/// <summary>What <see cref="LocalMesh"/> installs, applies and where it writes its state.</summary>
public sealed record LocalMeshOptions
{
    /// <summary>The user's directory of YAML, applied with server-side apply.</summary>
    public required string ConfigDirectory { get; init; }

    /// <summary>The shipped manifests (<c>manifests/install</c>): the product, installed as in a cluster.</summary>
    public required string InstallDirectory { get; init; }

    public required string StateFile { get; init; }

    /// <summary>The default state file: <c>$XDG_RUNTIME_DIR/waypoint-local/state.json</c>, else under the temp dir.</summary>
    public static string DefaultStateFile
    {
        get
        {
            var runtime = Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR");
            var root = string.IsNullOrEmpty(runtime) ? Path.GetTempPath() : runtime;
            return Path.Combine(root, "waypoint-local", "state.json");
        }
    }

    public required string BoxStateFile { get; init; }

    /// <summary>The field manager of the directory's apply (and its <c>waypoint.dev/applied-by</c> label).</summary>
    public string FieldManager { get; init; } = "waypoint-local";

    public bool Watch { get; init; } = true;

    public TimeSpan WatchDebounce { get; init; } = TimeSpan.FromMilliseconds(300);

    /// <summary>How long the client pod and the waypoints may take to be ready before the start fails naming them.</summary>
    public TimeSpan ReadyTimeout { get; init; } = TimeSpan.FromMinutes(4);

    /// <summary>How often the state file is refreshed from the cluster (pods, Services, waypoints).</summary>
    public TimeSpan RefreshInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How often the start looks whether the mesh is up (and the controller Available): a few cheap lists.</summary>
    public TimeSpan StartPollInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// The product was applied already (<see cref="LocalMesh.ApplyProductAsync"/>, run by the box once its CRDs were
    /// established, beside istiod's start): <see cref="LocalMesh.StartAsync"/> then only waits for it.
    /// </summary>
    public bool ProductApplied { get; init; }

    /// <summary>How long applying the product retries a refusal (a kind the API server does not serve yet, just after its CRD was established).</summary>
    public TimeSpan ProductApplyRetryTimeout { get; init; } = TimeSpan.FromSeconds(10);
}

/// <summary>The start of <c>waypoint local</c> failed at a named step.</summary>
public sealed class LocalMeshException(string message) : Exception(message);

/// <summary>
/// <c>waypoint local</c> on a running box: installs the product from the shipped manifests (the controller runs as a
/// pod), makes the ambient client pod, server-side applies the user's directory (each refused document printed with
/// its file, object and the API server's message; the rest applies), re-applies on edits and prunes what left the
/// files. The state file mirrors the cluster (not the files), so objects applied with kubectl show up too.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class LocalMesh : IAsyncDisposable
{
    /// <summary>The controller's leader-election Lease (its default name, in its namespace).</summary>
    private const string LeaseName = "waypoint-controller";

    private static readonly HashSet<string> s_systemNamespaces = new(StringComparer.Ordinal) { "default", "kube-system", "kube-public", "kube-node-lease", "istio-system", "waypoint-system", LocalClientPod.Namespace };

    private readonly KubernetesBox _box;
    private readonly LocalMeshOptions _options;
    private readonly TextWriter _output;
    private readonly ILogger _logger;
    private readonly BoxApplier _applier;
    private readonly SemaphoreSlim _applying = new(1, 1);
    private readonly CancellationTokenSource _stop = new();
    private ConfigDirectoryWatcher? _watcher;
    private Task _refresh = Task.CompletedTask;
    private string? _written;
    private int _applies;

    private LocalMesh(KubernetesBox box, LocalMeshOptions options, TextWriter output, ILogger logger)
    {
        _box = box;
        _options = options;
        _output = output;
        _logger = logger;
        _applier = new BoxApplier(box.AdminClient, options.FieldManager);
        State = NewState([], [], []);
    }

    /// <summary>The last state written: the cluster's pods, Services and waypoints.</summary>
    public LocalBoxState State { get; private set; }

    public static async Task<LocalMesh> StartAsync(KubernetesBox box, LocalMeshOptions options, TextWriter output, ILoggerFactory loggerFactory, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(box);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        var timeline = box.Timeline;
        var installer = new ProductInstaller(box.AdminClient, loggerFactory.CreateLogger<ProductInstaller>());
        var install = InstallOptions(options);
        if (!options.ProductApplied)
        {
            await ApplyProductAsync(box, options, output, loggerFactory, cancellationToken).ConfigureAwait(false);
        }

        // As on any cluster, nothing below waits for the controller: the client pod and the user's objects are applied
        // at once (the controller reconciles them when it starts), and the controller's Available is awaited together
        // with the mesh (a controller that never becomes Available still fails the start with its diagnosis).
        var client = await new BoxApplier(box.AdminClient, LocalClientPod.FieldManager).ApplyYamlAsync(LocalClientPod.Manifest, "client pod", cancellationToken).ConfigureAwait(false);
        if (!client.Succeeded)
        {
            throw new LocalMeshException($"The client pod {LocalClientPod.Key} was refused: {string.Join("; ", client.Failures)}");
        }

        timeline.Mark("client pod applied", LocalClientPod.Key);
        var mesh = new LocalMesh(box, options, output, loggerFactory.CreateLogger<LocalMesh>());
        try
        {
            output.WriteLine($"Applying {options.ConfigDirectory} (server-side apply, field manager {options.FieldManager}) ...");
            await mesh.ApplyAsync(cancellationToken).ConfigureAwait(false);
            timeline.Mark("configuration applied", options.ConfigDirectory);
            using (var together = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                var available = MarkWhenDoneAsync(installer.WaitForAvailableAsync(install, together.Token), timeline, "controller Available");
                var ready = mesh.WaitUntilReadyAsync(together.Token);
                var first = await Task.WhenAny(available, ready).ConfigureAwait(false);
                if (!first.IsCompletedSuccessfully)
                {
                    await together.CancelAsync().ConfigureAwait(false);
                }

                try
                {
                    await Task.WhenAll(available, ready).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!first.IsCompletedSuccessfully)
                {
                    // The other one was cancelled because of the first failure, which is the one to report.
                }

                await first.ConfigureAwait(false);
            }

            timeline.Mark("mesh up", "client pod has its network, every Gateway Programmed");
            await mesh.RecordClusterTimelineAsync(install, cancellationToken).ConfigureAwait(false);
            output.WriteLine("Start timeline (seconds since `waypoint local` started; pod and Node times are the API server's, whole seconds):");
            output.Write(timeline.Summary());
            output.Flush();
            mesh._refresh = mesh.RefreshLoopAsync(mesh._stop.Token);
            if (options.Watch)
            {
                mesh._watcher = new ConfigDirectoryWatcher(options.ConfigDirectory, options.WatchDebounce, mesh.ApplyAsync, loggerFactory.CreateLogger<ConfigDirectoryWatcher>());
            }

            return mesh;
        }
        catch
        {
            await mesh.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Server-side applies the product's manifests without waiting for the controller. It needs only the API server and
    /// the CRDs (the GatewayClass), so <c>waypoint local</c> runs it as soon as the CRDs are established, beside
    /// istiod's start (<see cref="BoxOptions.AfterCrds"/>), as one installs on a cluster whose control plane is still
    /// coming up: the controller retries istiod's CA, and its pods start once the node and istiod's root-certificate
    /// ConfigMap are there. A refusal is retried for <see cref="LocalMeshOptions.ProductApplyRetryTimeout"/> (a kind
    /// whose CRD was just established may not be in discovery yet), then thrown.
    /// </summary>
    public static async Task ApplyProductAsync(KubernetesBox box, LocalMeshOptions options, TextWriter output, ILoggerFactory loggerFactory, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(box);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        output.WriteLine($"Installing the product from {options.InstallDirectory} (the controller runs as a pod) ...");
        output.Flush();
        var installer = new ProductInstaller(box.AdminClient, loggerFactory.CreateLogger<ProductInstaller>());
        var logger = loggerFactory.CreateLogger<LocalMesh>();
        var retryUntil = DateTimeOffset.UtcNow + options.ProductApplyRetryTimeout;
        while (true)
        {
            try
            {
                await installer.ApplyAsync(InstallOptions(options), cancellationToken).ConfigureAwait(false);
                break;
            }
            catch (ProductInstallException ex) when (DateTimeOffset.UtcNow < retryUntil && Directory.Exists(options.InstallDirectory))
            {
                LocalMeshLog.ProductApplyRetried(logger, ex.Message);
                await Task.Delay(options.StartPollInterval, cancellationToken).ConfigureAwait(false);
            }
        }

        box.Timeline.Mark("product applied", options.InstallDirectory);
    }

    private static ProductInstallOptions InstallOptions(LocalMeshOptions options) =>
        new() { ManifestDirectory = options.InstallDirectory, PollInterval = options.StartPollInterval };

    /// <summary>
    /// Applies the directory and prunes the objects no longer in it. A file that is not YAML at all names no objects, so
    /// nothing is pruned in that round (its objects would otherwise go): nothing is lost to a half-saved file.
    /// </summary>
    public async Task ApplyAsync(CancellationToken cancellationToken)
    {
        await _applying.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var round = ++_applies;
            var report = await _applier.ApplyDirectoryAsync(_options.ConfigDirectory, cancellationToken).ConfigureAwait(false);
            foreach (var failure in report.Failures)
            {
                _output.WriteLine($"  rejected  {Relative(failure.Source)}#{failure.DocumentIndex}  {failure.Target}: {failure.Error}");
            }

            var unreadable = report.Failures.Any(f => f.Target.Kind is null);
            var pruned = 0;
            if (unreadable)
            {
                _output.WriteLine("  (a file could not be read as YAML: nothing pruned this time)");
            }
            else
            {
                foreach (var prune in await _applier.PruneAsync(cancellationToken).ConfigureAwait(false))
                {
                    pruned++;
                    _output.WriteLine(prune.Deleted ? $"  pruned    {prune.Target}" : $"  not pruned {prune.Target}: {prune.Error}");
                }
            }

            var applied = report.Documents.Count(d => d.Applied);
            var rejected = report.Documents.Count - applied;
            _output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Apply {round}: {applied} object(s) applied, {rejected} rejected, {pruned} pruned from {_options.ConfigDirectory}."));
            _output.Flush();
            LocalMeshLog.Applied(_logger, round, applied, rejected, pruned);
        }
        finally
        {
            _applying.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        _watcher?.Dispose();
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _refresh.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        try
        {
            File.Delete(_options.StateFile);
        }
        catch (IOException)
        {
        }

        _stop.Dispose();
        _applying.Dispose();
    }

    private string Relative(string source) => Path.GetRelativePath(_options.ConfigDirectory, source);

    private static async Task MarkWhenDoneAsync(Task step, BoxStartTimeline timeline, string milestone)
    {
        await step.ConfigureAwait(false);
        timeline.Mark(milestone);
    }

    /// <summary>What only the cluster knows (pods' and the Node's times, the Lease); a failed read leaves the timeline as it is.</summary>
    private async Task RecordClusterTimelineAsync(ProductInstallOptions install, CancellationToken cancellationToken)
    {
        try
        {
            await ClusterStartTimeline.RecordAsync(_box.AdminClient, _box.Timeline, install.ControllerNamespace, LeaseName, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpRequestException or System.Text.Json.JsonException or InvalidOperationException)
        {
            LocalMeshLog.TimelineReadFailed(_logger, ex);
        }
    }

    private async Task WaitUntilReadyAsync(CancellationToken cancellationToken)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(_options.ReadyTimeout);
        var missing = "nothing read yet";
        try
        {
            while (true)
            {
                await RefreshAsync(limit.Token).ConfigureAwait(false);
                var notProgrammed = State.Waypoints.Where(w => !w.Programmed).Select(w => $"Gateway {w.Namespace}/{w.Name} is not Programmed");
                missing = string.Join("; ", (State.FindPod(LocalClientPod.Key) is null ? [$"the client pod {LocalClientPod.Key} has no network yet"] : Array.Empty<string>()).Concat(notProgrammed));
                if (State.FindPod(LocalClientPod.Key) is not null)
                {
                    _box.Timeline.Mark("client pod has its network", LocalClientPod.Key);
                }

                foreach (var waypoint in State.Waypoints.Where(w => w.Programmed))
                {
                    _box.Timeline.Mark($"Gateway {waypoint.Namespace}/{waypoint.Name} Programmed", string.Join(',', waypoint.Addresses));
                }

                if (missing.Length == 0)
                {
                    return;
                }

                await Task.Delay(_options.StartPollInterval, limit.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new LocalMeshException($"The mesh was not ready after {_options.ReadyTimeout.TotalSeconds:0} s: {missing}. Look with: kubectl --kubeconfig {_box.AdminKubeconfigPath} get pods,gateways -A (from the box's network namespace).");
        }
    }

    private async Task RefreshLoopAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(_options.RefreshInterval, cancellationToken).ConfigureAwait(false);
                await RefreshAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is HttpRequestException or IOException or System.Text.Json.JsonException)
            {
                LocalMeshLog.RefreshFailed(_logger, ex);
            }
        }
    }

    /// <summary>Reads pods (with the node's sandbox network namespaces), Services and waypoints; writes the state file on change.</summary>
    private async Task RefreshAsync(CancellationToken cancellationToken)
    {
        var pods = (_box.Node?.Runtime.PodNetworkNamespaces() ?? [])
            .Select(p => new LocalBoxPod(p.Namespace, p.Name, p.Address.ToString(), p.NamespacePath))
            .OrderBy(p => p.Namespace, StringComparer.Ordinal).ThenBy(p => p.Name, StringComparer.Ordinal).ToList();
        var namespaceWaypoints = (await ListAsync("/api/v1/namespaces", cancellationToken).ConfigureAwait(false))
            .ToDictionary(n => Name(n), n => Label(n, "istio.io/use-waypoint"), StringComparer.Ordinal);
        var services = new List<LocalBoxService>();
        foreach (var item in await ListAsync("/api/v1/services", cancellationToken).ConfigureAwait(false))
        {
            var ns = Namespace(item);
            if (s_systemNamespaces.Contains(ns) || Label(item, "gateway.networking.k8s.io/gateway-name") is not null)
            {
                continue;
            }

            var waypoint = Label(item, "istio.io/use-waypoint") ?? namespaceWaypoints.GetValueOrDefault(ns);
            var ports = (item["spec"]?["ports"]?.AsArray() ?? []).Select(p => p?["port"]?.GetValue<int>() ?? 0).Where(p => p > 0).ToList();
            services.Add(new LocalBoxService(ns, Name(item), item["spec"]?["clusterIP"]?.GetValue<string>(), ports, waypoint is null or "none" ? null : $"{ns}/{waypoint}"));
        }

        var waypoints = new List<LocalBoxWaypoint>();
        foreach (var item in await ListAsync("/apis/gateway.networking.k8s.io/v1/gateways", cancellationToken).ConfigureAwait(false))
        {
            var addresses = (item["status"]?["addresses"]?.AsArray() ?? []).Select(a => a?["value"]?.GetValue<string>()).OfType<string>().ToList();
            var programmed = (item["status"]?["conditions"]?.AsArray() ?? []).Any(c => c?["type"]?.GetValue<string>() == "Programmed" && c["status"]?.GetValue<string>() == "True");
            waypoints.Add(new LocalBoxWaypoint(Namespace(item), Name(item), addresses, programmed));
        }

        var state = NewState(pods, [.. services.OrderBy(s => s.Hostname, StringComparer.Ordinal)], [.. waypoints.OrderBy(w => w.Namespace, StringComparer.Ordinal).ThenBy(w => w.Name, StringComparer.Ordinal)]);
        var json = state.ToJson();
        if (json != _written)
        {
            state.Write(_options.StateFile);
            _written = json;
        }

        State = state;
    }

    private LocalBoxState NewState(IReadOnlyList<LocalBoxPod> pods, IReadOnlyList<LocalBoxService> services, IReadOnlyList<LocalBoxWaypoint> waypoints)
    {
        var box = _box.State;
        return new LocalBoxState
        {
            ConfigDirectory = _options.ConfigDirectory,
            BoxStateFile = _options.BoxStateFile,
            WorkDirectory = box.WorkDirectory,
            NetworkNamespacePath = box.NetworkNamespacePath,
            MountNamespacePath = string.Create(CultureInfo.InvariantCulture, $"/proc/{box.UnshareProcessId}/ns/mnt"),
            UnshareProcessId = box.UnshareProcessId,
            NamespaceMode = box.NamespaceMode,
            ApiServerUrl = box.ApiServerUrl,
            Kubeconfig = box.AdminKubeconfigPath,
            Kubectl = _box.Assets.Kubectl,
            ClientPod = LocalClientPod.Key,
            Pods = pods,
            Services = services,
            Waypoints = waypoints,
        };
    }

    private async Task<IReadOnlyList<JsonNode>> ListAsync(string path, CancellationToken cancellationToken)
    {
        var list = await _box.AdminClient.GetFromJsonAsync<JsonObject>(new Uri(path, UriKind.Relative), cancellationToken).ConfigureAwait(false);
        return [.. (list?["items"]?.AsArray() ?? []).OfType<JsonNode>()];
    }

    private static string Name(JsonNode item) => item["metadata"]?["name"]?.GetValue<string>() ?? "";

    private static string Namespace(JsonNode item) => item["metadata"]?["namespace"]?.GetValue<string>() ?? "";

    private static string? Label(JsonNode item, string label) => item["metadata"]?["labels"]?[label]?.GetValue<string>();
}

internal static partial class LocalMeshLog
{
    [LoggerMessage(Level = LogLevel.Debug, EventId = 1, EventName = "Applied", Message = "Apply {Round}: {Applied} applied, {Rejected} rejected, {Pruned} pruned.")]
    public static partial void Applied(ILogger logger, int round, int applied, int rejected, int pruned);

    [LoggerMessage(Level = LogLevel.Warning, EventId = 2, EventName = "RefreshFailed", Message = "Reading the cluster for the state file failed; the last state stays.")]
    public static partial void RefreshFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, EventId = 3, EventName = "TimelineReadFailed", Message = "Reading the pods' and the Node's times for the start timeline failed; it lists the box's own milestones only.")]
    public static partial void TimelineReadFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Debug, EventId = 4, EventName = "ProductApplyRetried", Message = "Applying the product was refused; retrying: {Reason}")]
    public static partial void ProductApplyRetried(ILogger logger, string reason);
}
