using System.Diagnostics;
using System.Globalization;
using System.Net;
using Microsoft.Extensions.Logging;
using Waypoint.Box.Apply;
using Waypoint.Box.Assets;
using Waypoint.Box.Components;
using Waypoint.Box.Network;
using Waypoint.Box.Pki;
using Waypoint.Box.Services;
using k8s;
using Microsoft.Extensions.DependencyInjection;
using System.Diagnostics.Metrics;
using Waypoint.Node;
using Waypoint.Node.Images;

namespace Waypoint.Box;

/// <summary>
/// A real Kubernetes control plane in the private network namespace this process runs in (started by
/// <see cref="BoxLauncher"/>): etcd, kube-apiserver, the CRDs, kube-controller-manager, kube-scheduler and
/// (optionally) istiod, each a <see cref="BoxComponent"/> with its log in <c>&lt;work&gt;/log</c>, then (optionally) the
/// node: a <see cref="WaypointNode"/> hosted in this process (the real kubelet on our CRI runtime, in this private
/// mount namespace). Its state file lets processes outside attach (<see cref="AttachAsync"/>). Disposing stops
/// everything in reverse order: the node first (kubelet, then containers and pod networks), etcd last.
/// </summary>
public sealed class KubernetesBox : IAsyncDisposable
{
    /// <summary>The field manager of what the box itself applies (the istio-system namespace, istiod's binding).</summary>
    public const string FieldManager = "waypoint-box";

    /// <summary>What <c>waypoint box</c> prints once the box is ready (a launching process can wait for it).</summary>
    public const string ReadyLine = "The box is ready.";

    /// <summary>The API server's URL inside the box.</summary>
    public static readonly Uri ApiServerUrl = new($"https://127.0.0.1:{BoxPorts.ApiServer}");

    private readonly BoxOptions _options;
    private readonly ILogger _logger;
    private readonly List<BoxComponent> _components = [];
    private readonly HttpClient _admin;
    private readonly string _networkNamespacePath;
    private readonly ILoggerFactory _loggerFactory;
    private WaypointNode? _node;
    private BoxServices? _services;
    private Kubernetes? _servicesClient;
    private ServiceProvider? _ownMetrics;
    private readonly List<IAsyncDisposable> _extensions = [];
    private readonly Lock _componentsLock = new();
    private readonly SemaphoreSlim _stateWrite = new(1, 1);
    private int _stopped;

    private KubernetesBox(BoxOptions options, ILoggerFactory loggerFactory, KubernetesAssets assets, string workDirectory, BoxPki pki, string networkNamespacePath, HttpClient admin, BoxStartTimeline timeline)
    {
        _options = options;
        Timeline = timeline;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger<KubernetesBox>();
        Assets = assets;
        WorkDirectory = workDirectory;
        Pki = pki;
        _networkNamespacePath = networkNamespacePath;
        _admin = admin;
    }

    public KubernetesAssets Assets { get; }

    /// <summary>The private work folder (mode 0700): pki/, log/, etcd/, the kubeconfigs.</summary>
    public string WorkDirectory { get; }

    /// <summary>The CA (issue more certificates from it, e.g. a kubelet's).</summary>
    public BoxPki Pki { get; }

    public string AdminKubeconfigPath => Path.Combine(WorkDirectory, "admin.kubeconfig");

    public string LogDirectory => Path.Combine(WorkDirectory, "log");

    /// <summary>The node, when the box runs one (<see cref="BoxOptions.Node"/>) and it has started.</summary>
    public WaypointNode? Node => _node;

    /// <summary>The kube-proxy role and cluster DNS, once the API server is up.</summary>
    public BoxServices? Services => _services;

    /// <summary>The running components, in start order.</summary>
    public IReadOnlyList<BoxComponent> Components
    {
        get
        {
            lock (_componentsLock)
            {
                return [.. _components];
            }
        }
    }

    /// <summary>Where the start spent its time (what runs on the box, e.g. <c>waypoint local</c>, adds its own milestones).</summary>
    public BoxStartTimeline Timeline { get; }

    /// <summary>What the state file holds.</summary>
    public BoxState State { get; private set; } = null!;

    /// <summary>An API server client authenticated as the admin (<c>system:masters</c>); owned by the box.</summary>
    public HttpClient AdminClient => _admin;

    /// <summary>
    /// Starts the box; this process must be the one <see cref="BoxLauncher"/> started (inside the namespaces).
    /// On failure everything started is stopped, the work folder kept (the error names its logs), and the
    /// exception is a <see cref="BoxComponentException"/> naming the component.
    /// </summary>
    public static async Task<KubernetesBox> StartAsync(BoxOptions options, ILoggerFactory loggerFactory, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        var logger = loggerFactory.CreateLogger<KubernetesBox>();
        var started = Stopwatch.StartNew();
        var timeline = options.Timeline ?? BoxStartTimeline.ForThisProcess(loggerFactory, BoxLauncher.LauncherPid);
        var assets = options.Assets ?? KubernetesAssets.Locate();
        timeline.Mark("binaries located", assets.BinDirectory);
        await BoxNetwork.SetUpAsync(cancellationToken).ConfigureAwait(false);
        timeline.Mark("network namespace set up");

        var workDirectory = PrepareWorkDirectory(options.WorkDirectory);
        Directory.CreateDirectory(Path.Combine(workDirectory, "log"));
        var pki = BoxPki.Create(Path.Combine(workDirectory, "pki"));
        var admin = pki.IssueClientCertificate("admin", "admin", "system:masters");
        timeline.Mark("CA and ServiceAccount keys made");
        var adminClient = BoxHttp.CreateApiClient(ApiServerUrl, pki.CaCertificatePath, admin.CertificatePath, admin.KeyPath);
        var box = new KubernetesBox(options, loggerFactory, assets, workDirectory, pki, NetworkNamespacePath(), adminClient, timeline);
        BoxLog.Starting(logger, workDirectory, box._networkNamespacePath);
        try
        {
            Kubeconfig.WriteClientCertificate(box.AdminKubeconfigPath, ApiServerUrl, pki.CaCertificatePath, admin);
            await box.StartComponentsAsync(cancellationToken).ConfigureAwait(false);
            await box.WriteStateAsync(ready: true, cancellationToken).ConfigureAwait(false);
            timeline.Mark("box ready");
            BoxLog.Ready(logger, started.ElapsedMilliseconds);
            return box;
        }
        catch (Exception ex)
        {
            // A cancelled start is not a failure: nothing to keep for.
            var keep = options.KeepWorkDirectory || ex is not OperationCanceledException;
            await box.StopCoreAsync(keep).ConfigureAwait(false);
            if (keep)
            {
                BoxLog.StartFailed(logger, workDirectory);
            }

            throw;
        }
    }

    /// <summary>
    /// Attaches to a running box from outside: reads its state file and joins its network namespace (root). Throws
    /// <see cref="FileNotFoundException"/> when no box wrote that file, <see cref="InvalidOperationException"/> when the
    /// file is stale (its box is gone). A box still starting (<see cref="BoxState.Ready"/> false) can be attached to.
    /// </summary>
    public static async Task<BoxConnection> AttachAsync(string statePath, CancellationToken cancellationToken)
    {
        var state = await BoxState.ReadAsync(statePath, cancellationToken).ConfigureAwait(false);
        if (BoxNetwork.NetworkNamespaceOf(state.UnshareProcessId) is not { } id || (state.NetworkNamespaceId is not null && id != state.NetworkNamespaceId))
        {
            throw new InvalidOperationException($"{statePath} is stale: the box's namespace holder (pid {state.UnshareProcessId}) is gone. Start a box with `waypoint box`.");
        }

        return new BoxConnection(state, new BoxNetworkNamespace(state.NetworkNamespacePath));
    }

    /// <summary>Stops every component in reverse start order (SIGTERM, then SIGKILL after the stop timeout), removes the state file and, unless kept, the work folder.</summary>
    public Task StopAsync() => StopCoreAsync(_options.KeepWorkDirectory);

    public async ValueTask DisposeAsync() => await StopAsync().ConfigureAwait(false);

    private async Task StartComponentsAsync(CancellationToken cancellationToken)
    {
        var pki = Pki;
        var work = WorkDirectory;
        var apiServing = pki.IssueServingCertificate("kube-apiserver", "kube-apiserver",
            ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"],
            [IPAddress.Loopback, BoxNetwork.KubernetesServiceIp, BoxNetwork.NodeIp]);
        // The API server's identity towards kubelets (logs, exec, port-forward); the kubelet's webhook authorizes it as an admin.
        var apiKubeletClient = pki.IssueClientCertificate("kube-apiserver-kubelet-client", "kube-apiserver-kubelet-client", "system:masters");

        await StartAsync(new BoxComponentSpec
        {
            Name = "etcd",
            Executable = Assets.Etcd,
            Arguments =
            [
                "--name=box", $"--data-dir={Path.Combine(work, "etcd")}", "--unsafe-no-fsync=true", "--log-level=warn",
                $"--listen-client-urls=http://127.0.0.1:{BoxPorts.EtcdClient}", $"--advertise-client-urls=http://127.0.0.1:{BoxPorts.EtcdClient}",
                $"--listen-peer-urls=http://127.0.0.1:{BoxPorts.EtcdPeer}", $"--initial-advertise-peer-urls=http://127.0.0.1:{BoxPorts.EtcdPeer}",
                $"--initial-cluster=box=http://127.0.0.1:{BoxPorts.EtcdPeer}",
            ],
            IsReadyAsync = ct => IsOkAsync(new Uri($"http://127.0.0.1:{BoxPorts.EtcdClient}/health"), ct),
        }, cancellationToken).ConfigureAwait(false);

        await StartAsync(new BoxComponentSpec
        {
            Name = "kube-apiserver",
            Executable = Assets.KubeApiServer,
            Arguments =
            [
                $"--etcd-servers=http://127.0.0.1:{BoxPorts.EtcdClient}",
                // Every address of the box's namespace (127.0.0.1 for the box's own clients, the node IP for pods through
                // the `kubernetes` Service), advertised as the node IP: the API server's own endpoint reconciler then
                // writes a `kubernetes` EndpointSlice that pods can route to (a loopback one would be refused).
                "--bind-address=0.0.0.0", $"--secure-port={BoxPorts.ApiServer}", $"--advertise-address={BoxNetwork.NodeIp}",
                $"--tls-cert-file={apiServing.CertificatePath}", $"--tls-private-key-file={apiServing.KeyPath}", $"--cert-dir={Path.Combine(work, "kube-apiserver")}",
                $"--client-ca-file={pki.CaCertificatePath}", "--authorization-mode=Node,RBAC",
                $"--requestheader-client-ca-file={pki.CaCertificatePath}", "--requestheader-allowed-names=front-proxy-client",
                "--requestheader-username-headers=X-Remote-User", "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                $"--service-cluster-ip-range={BoxNetwork.ServiceCidr}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                $"--service-account-key-file={pki.ServiceAccountPublicKeyPath}", $"--service-account-signing-key-file={pki.ServiceAccountKeyPath}",
                "--api-audiences=https://kubernetes.default.svc.cluster.local",
                "--allow-privileged=true", "--profiling=false",
                // Reach the kubelet by its node IP (the box has no DNS for node names), verified against the box CA.
                "--kubelet-preferred-address-types=InternalIP",
                $"--kubelet-client-certificate={apiKubeletClient.CertificatePath}", $"--kubelet-client-key={apiKubeletClient.KeyPath}",
                $"--kubelet-certificate-authority={pki.CaCertificatePath}",
            ],
            IsReadyAsync = ct => IsOkAsync(new Uri(ApiServerUrl, "/readyz"), ct),
        }, cancellationToken).ConfigureAwait(false);

        // Everything below needs only the API server; what needs more waits for just that (istiod and AfterCrds for the
        // CRDs, the node for the Service VIPs and cluster DNS its pods use), so the independent starts overlap. The first failure
        // cancels the others, and every one has ended before it is thrown (the stop then sees all components).
        using (var together = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            var token = together.Token;
            var services = StartServicesAsync(token);
            var crds = ApplyCrdsAsync(token);
            await WhenAllOrFirstFailureAsync(together,
            [
                services,
                crds,
                StartControllerManagerAsync(token),
                StartSchedulerAsync(token),
                _options.Istiod ? StartIstiodAfterAsync(crds, services, token) : Task.CompletedTask,
                _options.AfterCrds is { } afterCrds ? RunAfterCrdsAsync(crds, afterCrds, token) : Task.CompletedTask,
                _options.Node ? StartNodeAfterAsync(services, token) : Task.CompletedTask,
            ]).ConfigureAwait(false);
        }

        foreach (var extension in _options.Extensions)
        {
            Timeline.Mark($"{extension.Name} starting");
            try
            {
                _extensions.Add(await extension.StartAsync(this, cancellationToken).ConfigureAwait(false));
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                throw new BoxComponentException(extension.Name, null, null, $"{extension.Name} failed to start: {ex.Message}", ex);
            }

            Timeline.Mark($"{extension.Name} ready");
            BoxLog.ComponentReady(_logger, extension.Name, Environment.ProcessId, LogDirectory);
        }
    }

    /// <summary>Waits for every task; on the first that fails, cancels the rest, waits for them too, then throws its exception.</summary>
    private static async Task WhenAllOrFirstFailureAsync(CancellationTokenSource together, List<Task> tasks)
    {
        var pending = new List<Task>(tasks);
        while (pending.Count > 0)
        {
            var done = await Task.WhenAny(pending).ConfigureAwait(false);
            pending.Remove(done);
            if (done.IsCompletedSuccessfully)
            {
                continue;
            }

            await together.CancelAsync().ConfigureAwait(false);
            try
            {
                await Task.WhenAll(pending).ConfigureAwait(false);
            }
#pragma warning disable CA1031 // the first failure is the one reported; the others were cancelled because of it
            catch (Exception)
#pragma warning restore CA1031
            {
            }

            await done.ConfigureAwait(false);
        }
    }

    private async Task StartControllerManagerAsync(CancellationToken cancellationToken)
    {
        var pki = Pki;
        var work = WorkDirectory;
        var loopback = new[] { IPAddress.Loopback };
        var controllerManager = pki.IssueClientCertificate("kube-controller-manager", "system:kube-controller-manager");
        var controllerManagerServing = pki.IssueServingCertificate("kube-controller-manager-serving", "kube-controller-manager", ["localhost"], loopback);
        var controllerManagerKubeconfig = Kubeconfig.WriteClientCertificate(Path.Combine(work, "kube-controller-manager.kubeconfig"), ApiServerUrl, pki.CaCertificatePath, controllerManager);
        await StartAsync(new BoxComponentSpec
        {
            Name = "kube-controller-manager",
            Executable = Assets.KubeControllerManager,
            Arguments =
            [
                $"--kubeconfig={controllerManagerKubeconfig}", $"--authentication-kubeconfig={controllerManagerKubeconfig}", $"--authorization-kubeconfig={controllerManagerKubeconfig}",
                "--bind-address=127.0.0.1", $"--secure-port={BoxPorts.ControllerManager}", "--leader-elect=false",
                $"--tls-cert-file={controllerManagerServing.CertificatePath}", $"--tls-private-key-file={controllerManagerServing.KeyPath}",
                "--use-service-account-credentials=true",
                $"--service-account-private-key-file={pki.ServiceAccountKeyPath}", $"--root-ca-file={pki.CaCertificatePath}",
                $"--cluster-signing-cert-file={pki.CaCertificatePath}", $"--cluster-signing-key-file={pki.CaKeyPath}",
                $"--service-cluster-ip-range={BoxNetwork.ServiceCidr}",
                // The node-lifecycle controller removes the not-ready taint once the kubelet reports Ready (it renews its lease).
                "--controllers=node-lifecycle-controller,garbage-collector-controller,namespace-controller,serviceaccount-controller,serviceaccount-token-controller," +
                "deployment-controller,replicaset-controller,endpointslice-controller,endpointslice-mirroring-controller,endpoints-controller," +
                "root-ca-certificate-publisher-controller,clusterrole-aggregation-controller,service-cidr-controller,pod-garbage-collector-controller",
            ],
            IsReadyAsync = ct => IsOkAsync(new Uri($"https://127.0.0.1:{BoxPorts.ControllerManager}/healthz"), ct),
        }, cancellationToken).ConfigureAwait(false);
    }

    private async Task StartSchedulerAsync(CancellationToken cancellationToken)
    {
        var pki = Pki;
        var work = WorkDirectory;
        var loopback = new[] { IPAddress.Loopback };
        var scheduler = pki.IssueClientCertificate("kube-scheduler", "system:kube-scheduler");
        var schedulerServing = pki.IssueServingCertificate("kube-scheduler-serving", "kube-scheduler", ["localhost"], loopback);
        var schedulerKubeconfig = Kubeconfig.WriteClientCertificate(Path.Combine(work, "kube-scheduler.kubeconfig"), ApiServerUrl, pki.CaCertificatePath, scheduler);
        await StartAsync(new BoxComponentSpec
        {
            Name = "kube-scheduler",
            Executable = Assets.KubeScheduler,
            Arguments =
            [
                $"--kubeconfig={schedulerKubeconfig}", $"--authentication-kubeconfig={schedulerKubeconfig}", $"--authorization-kubeconfig={schedulerKubeconfig}",
                "--bind-address=127.0.0.1", $"--secure-port={BoxPorts.Scheduler}", "--leader-elect=false",
                $"--tls-cert-file={schedulerServing.CertificatePath}", $"--tls-private-key-file={schedulerServing.KeyPath}",
            ],
            IsReadyAsync = ct => IsOkAsync(new Uri($"https://127.0.0.1:{BoxPorts.Scheduler}/healthz"), ct),
        }, cancellationToken).ConfigureAwait(false);
    }

    private async Task StartIstiodAfterAsync(Task crds, Task services, CancellationToken cancellationToken)
    {
        await crds.WaitAsync(cancellationToken).ConfigureAwait(false);
        await StartIstiodAsync(services, cancellationToken).ConfigureAwait(false);
    }

    private async Task RunAfterCrdsAsync(Task crds, Func<KubernetesBox, CancellationToken, Task> afterCrds, CancellationToken cancellationToken)
    {
        await crds.WaitAsync(cancellationToken).ConfigureAwait(false);
        await afterCrds(this, cancellationToken).ConfigureAwait(false);
    }

    private async Task StartNodeAfterAsync(Task services, CancellationToken cancellationToken)
    {
        await services.WaitAsync(cancellationToken).ConfigureAwait(false);
        await StartNodeAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Reserves the DNS Service's ClusterIP (<c>kube-system/kube-dns</c>, 10.96.0.10, no selector: the box serves it
    /// itself), then starts the kube-proxy role and the cluster DNS, fed by one watch as the admin.
    /// </summary>
    private async Task StartServicesAsync(CancellationToken cancellationToken)
    {
        await ApplyOrFailAsync("services", BoxServiceManifests.KubeDns, cancellationToken).ConfigureAwait(false);
        var configuration = KubernetesClientConfiguration.BuildConfigFromConfigFile(AdminKubeconfigPath);
        _servicesClient = new Kubernetes(configuration);
        IMeterFactory meters;
        if (_options.MeterFactory is { } given)
        {
            meters = given;
        }
        else
        {
            _ownMetrics = new ServiceCollection().AddMetrics().BuildServiceProvider();
            meters = _ownMetrics.GetRequiredService<IMeterFactory>();
        }

        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(_options.ReadyTimeout);
        try
        {
            _services = await BoxServices.StartAsync(_servicesClient, new BoxServicesOptions
            {
                DnsEndPoint = new IPEndPoint(BoxNetwork.ClusterDnsIp, 53),
                ServedByBox = new HashSet<string>(StringComparer.Ordinal) { BoxServiceManifests.KubeDnsKey },
            }, _loggerFactory, meters, time: null, limit.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw new BoxComponentException("services", null, null, $"services: the kube-proxy role and cluster DNS did not start ({ex.Message})", ex);
        }

        Timeline.Mark("services ready", "Service VIPs and cluster DNS");
        BoxLog.ServicesReady(_logger, BoxNetwork.ClusterDnsIp);
    }

    /// <summary>Server-side applies the box's own objects, retrying while the API server settles (e.g. kube-system not made yet).</summary>
    private async Task ApplyOrFailAsync(string component, string yaml, CancellationToken cancellationToken)
    {
        var applier = new BoxApplier(_admin, FieldManager);
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var report = await applier.ApplyYamlAsync(yaml, component, cancellationToken).ConfigureAwait(false);
            if (report.Succeeded)
            {
                return;
            }

            if (deadline.Elapsed > _options.ReadyTimeout)
            {
                throw new BoxComponentException(component, null, null, $"{component}: the box's objects could not be applied: {string.Join("; ", report.Failures)}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task StartNodeAsync(CancellationToken cancellationToken)
    {
        var name = _options.NodeName;
        var client = Pki.IssueClientCertificate("kubelet-client", $"system:node:{name}", "system:nodes");
        var serving = Pki.IssueServingCertificate("kubelet-serving", $"system:node:{name}", [name], [BoxNetwork.NodeIp]);
        var root = Path.Combine(WorkDirectory, "node");
        BoxPki.CreatePrivateDirectory(root);
        try
        {
            _node = await WaypointNode.StartAsync(new NodeOptions
            {
                ApiServer = ApiServerUrl,
                CaCertificatePath = Pki.CaCertificatePath,
                KubeletClientCertificatePath = client.CertificatePath,
                KubeletClientKeyPath = client.KeyPath,
                KubeletServingCertificatePath = serving.CertificatePath,
                KubeletServingKeyPath = serving.KeyPath,
                NodeName = name,
                NodeAddress = BoxNetwork.NodeIp,
                RootDirectory = root,
                KubeletPath = Assets.Kubelet,
                Images = _options.NodeImages ?? ImageMap.Default(ImageMap.CurrentWaypointCommand(), envoyExecutable: null),
            }, _loggerFactory, time: null, cancellationToken).ConfigureAwait(false);
            Timeline.Mark("kubelet started", $"pid {_node.Kubelet.ProcessId}");
            using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            limit.CancelAfter(_options.ReadyTimeout);
            await _node.WaitForReadyAsync(limit.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            var log = _node?.Kubelet.LogPath ?? Path.Combine(root, "kubelet", "kubelet.log");
            throw BoxComponentException.Create("node", _node?.Kubelet.ExitCode, log, $"node: {name} did not become Ready ({ex.Message})", ex);
        }

        Timeline.Mark("node Ready", _options.NodeName);
        BoxLog.ComponentReady(_logger, "kubelet", _node.Kubelet.ProcessId, _node.Kubelet.LogPath);
        await WriteStateAsync(ready: false, cancellationToken).ConfigureAwait(false);
    }

    private async Task StartIstiodAsync(Task services, CancellationToken cancellationToken)
    {
        // istiod gets cluster-admin for now (its client certificate names its ServiceAccount); Istio's chart gives it a
        // narrower ClusterRole, which the box may adopt later.
        const string istioSystem = """
            apiVersion: v1
            kind: Namespace
            metadata:
              name: istio-system
            ---
            apiVersion: rbac.authorization.k8s.io/v1
            kind: ClusterRoleBinding
            metadata:
              name: waypoint-box-istiod
            roleRef:
              apiGroup: rbac.authorization.k8s.io
              kind: ClusterRole
              name: cluster-admin
            subjects:
            - kind: ServiceAccount
              name: istiod
              namespace: istio-system
            """;
        var report = await new BoxApplier(_admin, FieldManager).ApplyYamlAsync(istioSystem, "istio-system", cancellationToken).ConfigureAwait(false);
        if (!report.Succeeded)
        {
            throw new BoxComponentException("istiod", null, null, $"istiod's namespace and RBAC could not be applied: {string.Join("; ", report.Failures)}");
        }

        var istiod = Pki.IssueClientCertificate("istiod", "system:serviceaccount:istio-system:istiod", "system:serviceaccounts", "system:serviceaccounts:istio-system");
        var kubeconfig = Kubeconfig.WriteClientCertificate(Path.Combine(WorkDirectory, "istiod.kubeconfig"), ApiServerUrl, Pki.CaCertificatePath, istiod);
        var node = BoxNetwork.NodeIp.ToString();
        var cwd = Path.Combine(WorkDirectory, "istiod");
        Directory.CreateDirectory(cwd);
        await StartAsync(new BoxComponentSpec
        {
            Name = "istiod",
            Executable = Assets.PilotDiscovery,
            WorkingDirectory = cwd,
            Environment = new Dictionary<string, string?>
            {
                ["KUBERNETES_SERVICE_HOST"] = null,
                ["POD_NAMESPACE"] = "istio-system",
                ["POD_NAME"] = "istiod-box",
                ["SERVICE_ACCOUNT"] = "istiod",
                ["REVISION"] = "default",
                ["CLUSTER_ID"] = "Kubernetes",
                ["PILOT_CERT_PROVIDER"] = "istiod",
                ["PILOT_ENABLE_AMBIENT"] = "true",
                ["CA_TRUSTED_NODE_ACCOUNTS"] = "istio-system/ztunnel",
                ["ISTIOD_CUSTOM_HOST"] = $"localhost,127.0.0.1,{node}",
                ["INJECT_ENABLED"] = "false",
                ["VALIDATION_WEBHOOK_CONFIG_NAME"] = string.Empty,
                ["PILOT_ENABLE_GATEWAY_API_DEPLOYMENT_CONTROLLER"] = "false",
            },
            Arguments =
            [
                "discovery", $"--kubeconfig={kubeconfig}", "--domain=cluster.local",
                // The Service's ports on the node IP, where its EndpointSlice points (a wildcard address would also take
                // those ports on every VIP and keep the proxy from binding the istiod Service); debug HTTP stays on loopback.
                $"--grpcAddr={node}:{BoxPorts.IstiodGrpc}", $"--secureGRPCAddr={node}:{BoxPorts.IstiodSecureGrpc}",
                $"--httpAddr=127.0.0.1:{BoxPorts.IstiodHttp}", $"--httpsAddr={node}:{BoxPorts.IstiodWebhook}",
                $"--monitoringAddr={node}:{BoxPorts.IstiodMonitoring}", "--ctrlz_address=127.0.0.1",
            ],
            IsReadyAsync = ct => IsOkAsync(new Uri($"http://127.0.0.1:{BoxPorts.IstiodHttp}/ready"), ct),
            // Like its Deployment's pod, istiod comes back when it exits (its CA keeps its root in istio-ca-secret):
            // the agent's and the ztunnel's outage handling is tested against that.
            RestartOnExit = true,
        }, cancellationToken).ConfigureAwait(false);

        // Pods reach istiod as istiod.istio-system.svc through its Service; the box's own clients keep 127.0.0.1.
        await ApplyOrFailAsync("istiod", BoxServiceManifests.Istiod, cancellationToken).ConfigureAwait(false);
        await services.WaitAsync(cancellationToken).ConfigureAwait(false);
        if (_services is { } started)
        {
            foreach (var port in (int[])[BoxPorts.IstiodGrpc, BoxPorts.IstiodSecureGrpc, BoxPorts.IstiodWebhook, BoxPorts.IstiodMonitoring])
            {
                await started.Proxy.AddFixedForwardAsync(new IPEndPoint(IPAddress.Loopback, port), new IPEndPoint(BoxNetwork.NodeIp, port), cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Completes with the first component (or the kubelet) that exits while the box runs (a crash: the box no longer
    /// works), or is cancelled. Components started after the call are not watched by it.
    /// </summary>
    public async Task<BoxComponentExit> WaitForComponentExitAsync(CancellationToken cancellationToken)
    {
        var watched = Components.Select(c => (Exited: c.Exited, Exit: (Func<BoxComponentExit>)(() => new BoxComponentExit(c.Name, c.ExitCode, c.LogPath)))).ToList();
        if (_node is { } node)
        {
            watched.Add((node.Kubelet.WaitForExitAsync(CancellationToken.None), () => new BoxComponentExit("kubelet", node.Kubelet.ExitCode, node.Kubelet.LogPath)));
        }

        var exited = await Task.WhenAny(watched.Select(w => w.Exited)).WaitAsync(cancellationToken).ConfigureAwait(false);
        return watched.First(w => w.Exited == exited).Exit();
    }

    /// <summary>
    /// Starts one more component in the box (e.g. a kubelet) and waits until it is ready; it is stopped with the others,
    /// before them (reverse start order), and listed in the state file. <see cref="BoxOptions.ExtraArguments"/> apply
    /// to it by name.
    /// </summary>
    public Task<BoxComponent> StartComponentAsync(BoxComponentSpec spec, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _stopped) != 0, this);
        return StartAsync(spec, cancellationToken);
    }

    private async Task<BoxComponent> StartAsync(BoxComponentSpec spec, CancellationToken cancellationToken)
    {
        if (_options.ExtraArguments.TryGetValue(spec.Name, out var extra))
        {
            spec = spec with { Arguments = [.. spec.Arguments, .. extra] };
        }

        spec = spec with { ReadyTimeout = _options.ReadyTimeout };
        var component = new BoxComponent(spec, LogDirectory);
        component.Restarted += (_, _) => _ = OnRestartedAsync(component);
        lock (_componentsLock)
        {
            _components.Add(component);
        }

        Timeline.Mark($"{component.Name} started");
        await component.StartAsync(cancellationToken).ConfigureAwait(false);
        Timeline.Mark($"{component.Name} ready", $"pid {component.ProcessId}");
        BoxLog.ComponentReady(_logger, component.Name, component.ProcessId, component.LogPath);
        await WriteStateAsync(ready: State?.Ready ?? false, cancellationToken).ConfigureAwait(false);
        return component;
    }

    /// <summary>A supervised component came back: log it and put its new pid in the state file (tests signal it by pid).</summary>
    private async Task OnRestartedAsync(BoxComponent component)
    {
        BoxLog.ComponentRestarted(_logger, component.Name, component.ProcessId, component.Restarts);
        if (Volatile.Read(ref _stopped) != 0)
        {
            return;
        }

        try
        {
            await WriteStateAsync(ready: State?.Ready ?? false, CancellationToken.None).ConfigureAwait(false);
        }
        catch (IOException ex)
        {
            BoxLog.StateWriteFailed(_logger, ex);
        }
    }

    private async Task ApplyCrdsAsync(CancellationToken cancellationToken)
    {
        // In process, server-side (a client-side apply of the big CRDs would overflow the last-applied annotation), the
        // documents side by side; then Established is polled every 100 ms (was `kubectl apply` + `kubectl wait`: two Go
        // processes, and the wait's own polling). What was applied, and each failure, goes to crds.log.
        var log = Path.Combine(LogDirectory, "crds.log");
        var files = Assets.CrdPaths.SelectMany(CrdEstablishment.Files).ToList();
        var applier = new BoxApplier(_admin, FieldManager) { Parallelism = CrdEstablishment.ApplyParallelism };
        var report = await applier.ApplyAsync(files.Select(YamlSource.FromFile), cancellationToken).ConfigureAwait(false);
        await File.AppendAllLinesAsync(log, report.Documents.Select(d => d.ToString()), cancellationToken).ConfigureAwait(false);
        if (!report.Succeeded)
        {
            throw BoxComponentException.Create("crds", null, log, $"crds: the API server refused {report.Failures.Count()} of {report.Documents.Count} documents of {string.Join(", ", Assets.CrdPaths)}");
        }

        var names = report.Documents.Where(d => d.Target.Kind == "CustomResourceDefinition" && d.Target.Name is not null).Select(d => d.Target.Name!).ToHashSet(StringComparer.Ordinal);
        Timeline.Mark("CRDs applied", string.Create(CultureInfo.InvariantCulture, $"{names.Count} CRDs, {report.Documents.Count} documents"));
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(_options.ReadyTimeout);
        IReadOnlyList<string> missing = [.. names];
        try
        {
            while (true)
            {
                using (var response = await _admin.GetAsync(new Uri(ApiServerUrl, CrdEstablishment.ListPath), limit.Token).ConfigureAwait(false))
                {
                    if (response.IsSuccessStatusCode)
                    {
                        using var list = await System.Text.Json.JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(limit.Token).ConfigureAwait(false), cancellationToken: limit.Token).ConfigureAwait(false);
                        missing = CrdEstablishment.NotEstablished(list.RootElement, names);
                        if (missing.Count == 0)
                        {
                            break;
                        }
                    }
                }

                await Task.Delay(CrdEstablishment.PollInterval, limit.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            await File.AppendAllLinesAsync(log, [$"not Established after {_options.ReadyTimeout.TotalSeconds:0} s: {string.Join(", ", missing)}"], CancellationToken.None).ConfigureAwait(false);
            throw BoxComponentException.Create("crds", null, log, $"crds: {missing.Count} CRDs were not Established after {_options.ReadyTimeout.TotalSeconds:0} s ({string.Join(", ", missing.Take(5))})");
        }

        Timeline.Mark("CRDs established");
        BoxLog.CrdsApplied(_logger, Assets.CrdPaths);
    }

    private async Task<bool> IsOkAsync(Uri uri, CancellationToken cancellationToken)
    {
        using var response = await _admin.GetAsync(uri, cancellationToken).ConfigureAwait(false);
        return response.IsSuccessStatusCode;
    }

    private async Task WriteStateAsync(bool ready, CancellationToken cancellationToken)
    {
        // Components start side by side: one writer at a time, each writing everything known by then.
        await _stateWrite.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await WriteStateCoreAsync(ready, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _stateWrite.Release();
        }
    }

    private async Task WriteStateCoreAsync(bool ready, CancellationToken cancellationToken)
    {
        State = new BoxState
        {
            WorkDirectory = WorkDirectory,
            NetworkNamespacePath = _networkNamespacePath,
            NetworkNamespaceId = BoxNetwork.NetworkNamespaceOf(Environment.ProcessId),
            UnshareProcessId = Libc.GetParentProcessId(),
            BoxProcessId = Environment.ProcessId,
            NamespaceMode = Libc.GetEffectiveUserId() == 0 && Environment.GetEnvironmentVariable(BoxLauncher.InsideVariable) == "1" && IsInitialUserNamespace() ? nameof(BoxNamespaceMode.Root) : nameof(BoxNamespaceMode.UserNamespace),
            ApiServerUrl = ApiServerUrl.ToString().TrimEnd('/'),
            AdminKubeconfigPath = AdminKubeconfigPath,
            PkiDirectory = Pki.Directory,
            CaCertificatePath = Pki.CaCertificatePath,
            Components = [.. Components.Where(c => c.ProcessId is not null).Select(c => new BoxComponentState(c.Name, c.ProcessId!.Value, c.LogPath))],
            Node = _node is { } node ? new BoxNodeState(_options.NodeName, node.Kubelet.ProcessId, node.Kubelet.LogPath, Path.Combine(WorkDirectory, "node")) : null,
            Ready = ready,
        };
        await State.WriteAsync(_options.StateFile, cancellationToken).ConfigureAwait(false);
    }

    private async Task StopCoreAsync(bool keepWorkDirectory)
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }

        // The node first, while the API server still answers the kubelet; then the rest in reverse order, each waited
        // for: if etcd goes first, the API server's graceful shutdown hangs. Extensions (the ztunnel) go before the node.
        for (var i = _extensions.Count - 1; i >= 0; i--)
        {
            await _extensions[i].DisposeAsync().ConfigureAwait(false);
        }

        if (_node is { } node)
        {
            BoxLog.Stopping(_logger, "node");
            await node.DisposeAsync().ConfigureAwait(false);
        }

        if (_services is { } services)
        {
            BoxLog.Stopping(_logger, "services");
            await services.DisposeAsync().ConfigureAwait(false);
        }

        _servicesClient?.Dispose();
        _ownMetrics?.Dispose();

        var components = Components;
        for (var i = components.Count - 1; i >= 0; i--)
        {
            BoxLog.Stopping(_logger, components[i].Name);
            await components[i].StopAsync(_options.StopTimeout).ConfigureAwait(false);
            components[i].Dispose();
        }

        _admin.Dispose();
        Pki.Dispose();
        TryDelete(() => File.Delete(_options.StateFile), _options.StateFile);
        if (!keepWorkDirectory)
        {
            TryDelete(() => Directory.Delete(WorkDirectory, recursive: true), WorkDirectory);
        }
    }

    private void TryDelete(Action delete, string path)
    {
        try
        {
            delete();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            BoxLog.CleanupFailed(_logger, path, ex.Message);
        }
    }

    private static string PrepareWorkDirectory(string? requested)
    {
        if (requested is null)
        {
            return Directory.CreateTempSubdirectory("waypoint-box-").FullName;
        }

        var full = Path.GetFullPath(requested);
        if (Directory.Exists(full) && Directory.EnumerateFileSystemEntries(full).Any())
        {
            throw new IOException($"The work directory {full} is not empty; give a new or empty one.");
        }

        BoxPki.CreatePrivateDirectory(full);
        return full;
    }

    private static string NetworkNamespacePath()
    {
        // The unshare process (our parent) holds the namespace as long as the box lives.
        var parent = $"/proc/{Libc.GetParentProcessId().ToString(CultureInfo.InvariantCulture)}/ns/net";
        return BoxNetwork.NetworkNamespaceOf(parent) is { } id && id == BoxNetwork.NetworkNamespaceOf(Environment.ProcessId)
            ? parent
            : $"/proc/{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}/ns/net";
    }

    private static bool IsInitialUserNamespace()
    {
        try
        {
            return File.ReadAllText("/proc/self/uid_map").Split((char[])[' ', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries) is ["0", "0", "4294967295", ..];
        }
        catch (IOException)
        {
            return false;
        }
    }
}
