using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Waypoint.Controller.Client;
using Waypoint.Controller.Events;
using Waypoint.Controller.LeaderElection;
using Waypoint.Controller.Publishing;
using Waypoint.Controller.Queues;
using Waypoint.Controller.Reconciliation;
using Waypoint.Translator;
using Waypoint.Transformation.Model;
using Waypoint.Translator.Model;
using Waypoint.Xds.Diagnostics;

namespace Waypoint.Controller;

/// <summary>
/// The controller loop: informers → caches → (a) debounced snapshots to <see cref="IWaypointConfigPublisher"/> on every
/// replica, (b) a de-duplicating, rate-limited work queue whose idempotent reconciles (waypoint objects, Gateway,
/// GatewayClass and HTTPRoute status) run only on the Lease holder. Crash-only: when any loop (an informer, the
/// publisher, the leader campaign) stops while the host is not stopping, the controller stops the process.
/// </summary>
internal sealed class WaypointController : BackgroundService
{
    private static readonly WorkItem RouteStatuses = new(WorkKind.RouteStatuses, default);
    private static readonly WorkItem PolicyStatuses = new(WorkKind.PolicyStatuses, default);
    private static readonly TimeSpan MaxTranslationRetry = TimeSpan.FromSeconds(30);

    /// <summary>The server-side apply field manager of every object the controller owns.</summary>
    public const string FieldManager = "waypoint-controller";

    private readonly KubernetesApiClient _client;
    private readonly WaypointControllerOptions _options;
    private readonly IWaypointConfigPublisher _publisher;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly WorkQueue<WorkItem> _queue;
    private readonly LeaderCampaign? _campaign;
    private readonly IHostApplicationLifetime? _lifetime;
    private readonly WaypointTranslator _translator;
    private volatile WaypointConfigUpdate? _latest;
    private readonly SemaphoreSlim _changed = new(0, 1);
    private readonly EnvoyRejectionTracker _rejections;
    private readonly XdsServerStatus? _xdsStatus;
    private readonly EventRecorder _events;
    private readonly HashSet<long> _certificateWarnings = [];
    private int _translationFailures;

    // Status writes this replica made, by path: the resourceVersion the write was based on and a hash of the object
    // written. Until the watch delivers our own write, the cache still holds that resourceVersion; a reconcile in
    // between would compute the same status again and send a PUT bound to fail with 409. Entries are dropped once the
    // cache has moved past them (see PruneStatusWrites), so the memo stays as small as the writes in flight.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, StatusWrite> _statusWrites = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource _firstPublish = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ControllerMetrics? _metrics;
    private long _version;
    private long _lastChangeTicks;

    public WaypointController(
        KubernetesApiClient client,
        IOptions<WaypointControllerOptions> options,
        IWaypointConfigPublisher publisher,
        TimeProvider timeProvider,
        ILoggerFactory loggerFactory,
        InformerOptions? informerOptions = null,
        XdsServerStatus? xdsStatus = null,
        Func<TranslatorOptions, TranslatorOptions>? configureTranslator = null,
        IHostApplicationLifetime? lifetime = null,
        ControllerMetrics? metrics = null)
    {
        _lifetime = lifetime;
        _metrics = metrics;
        _client = client;
        _options = options.Value;
        _publisher = publisher;
        _timeProvider = timeProvider;
        _logger = loggerFactory.CreateLogger<WaypointController>();
        _queue = new WorkQueue<WorkItem>(timeProvider, waited: metrics is null ? null : metrics.Waited);
        var translatorOptions = new TranslatorOptions
        {
            TrustDomain = _options.TrustDomain,
            ClusterDomain = _options.ClusterDomain,
            ControllerName = _options.ControllerName,
            IstioRootNamespace = _options.IstioRootNamespace,
            Telemetry = _options.Telemetry.ToTranslatorOptions(),
            RequestMetrics = _options.RequestMetrics,
        };
        _translator = new WaypointTranslator(configureTranslator?.Invoke(translatorOptions) ?? translatorOptions);
        _events = new EventRecorder(client, timeProvider, loggerFactory.CreateLogger<EventRecorder>(), Environment.MachineName);
        _rejections = new EnvoyRejectionTracker(_logger, SignalChange, OnEnvoyRejected);
        _xdsStatus = xdsStatus;
        informerOptions ??= new InformerOptions();
        if (metrics is not null)
        {
            informerOptions = informerOptions with { Listed = metrics.Listed };
        }

        State = new ClusterState(client, _options, informerOptions, loggerFactory, timeProvider);
        if (_options.LeaderElection.Enabled)
        {
            _campaign = new LeaderCampaign(client, _options.LeaderElection, _options.Namespace, loggerFactory.CreateLogger<LeaderCampaign>());
        }

        RegisterHandlers();
        metrics?.Observe(() => _queue.Count, () => IsLeader);
    }

    public ClusterState State { get; }

    /// <summary>Events this replica wrote (tests wait on it).</summary>
    internal long EventWrites => _events.Writes;

    /// <summary>How often the leader looks at the connected Envoys' client certificates.</summary>
    internal static TimeSpan CertificateCheckPeriod { get; } = TimeSpan.FromSeconds(30);

    public bool IsLeader => _campaign?.IsLeader ?? true;

    public long PublishedVersion => Interlocked.Read(ref _version);

    /// <summary>The last snapshot that translated successfully (what the xDS server serves).</summary>
    public WaypointConfigUpdate? Latest => _latest;

    /// <summary>Completes once every informer synced and the first snapshot was published.</summary>
    public Task Started => _firstPublish.Task;

    public override void Dispose()
    {
        if (_xdsStatus is not null)
        {
            _xdsStatus.Nacked -= _rejections.OnNack;
        }

        _queue.ShutDown();
        _queue.Dispose();
        _changed.Dispose();
        base.Dispose();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_xdsStatus is not null)
        {
            _xdsStatus.Nacked += _rejections.OnNack;
        }

        // Every loop runs until the host stops. The first one to end otherwise (faulted, or returned) ends them all and
        // stops the process: a restarted pod is a known state, a controller with a dead loop is not.
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        var loops = State.All
            .Select(i => (Name: $"{i.Kind} informer", Task: Task.Run(() => i.RunAsync(stopping.Token), CancellationToken.None)))
            .Append((Name: "controller", Task: Task.Run(() => RunLoopsAsync(stopping.Token), CancellationToken.None)))
            .Append((Name: "event recorder", Task: Task.Run(() => _events.RunAsync(stopping.Token), CancellationToken.None)))
            .ToList();
        var ended = await Task.WhenAny(loops.Select(l => l.Task)).ConfigureAwait(false);
        if (!stoppingToken.IsCancellationRequested)
        {
            var name = loops.First(l => l.Task == ended).Name;
            ControllerLog.LoopFailed(_logger, name, ended.Exception?.GetBaseException());
            _lifetime?.StopApplication();
        }

        await stopping.CancelAsync().ConfigureAwait(false);
        _firstPublish.TrySetCanceled(CancellationToken.None);
        try
        {
            await Task.WhenAll(loops.Select(l => l.Task)).ConfigureAwait(false);
        }
        catch (Exception) when (stopping.IsCancellationRequested)
        {
            // Cancelled loops, and the failure already reported above.
        }
    }

    private async Task RunLoopsAsync(CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            await Task.WhenAll(State.All.Select(i => i.WaitForSyncAsync(cancellationToken))).ConfigureAwait(false);
            ControllerLog.InformersSynced(_logger, (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            await PublishAsync(cancellationToken).ConfigureAwait(false);
            _firstPublish.TrySetResult();
            if (_options.CompactHeapAfterFirstPublish)
            {
                _ = Task.Run(CompactHeapOnce, CancellationToken.None);
            }

            // When one of the two ends, the other is stopped and awaited (the campaign releases the Lease on the way out);
            // then the first one's outcome is the loop's: a fault, or an unexpected return the supervisor reports.
            using var running = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var publishing = RunPublisherAsync(running.Token);
            var leading = _campaign is null ? LeadAsync(running.Token) : _campaign.RunAsync(LeadAsync, running.Token);
            var first = await Task.WhenAny(publishing, leading).ConfigureAwait(false);
            await running.CancelAsync().ConfigureAwait(false);
            try
            {
                await Task.WhenAll(publishing, leading).ConfigureAwait(false);
            }
            catch (Exception) when (first.IsFaulted || first.IsCanceled || running.IsCancellationRequested)
            {
                // Reported through the first one below.
            }

            await first.ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Shutting down.
        }
    }

    /// <summary>Wakes the publisher; the debounce folds bursts into one translation.</summary>
    private void SignalChange()
    {
        Interlocked.Exchange(ref _lastChangeTicks, _timeProvider.GetTimestamp());
        try
        {
            _changed.Release();
        }
        catch (SemaphoreFullException)
        {
            // A publish is already pending; it will see this change too.
        }
        catch (ObjectDisposedException)
        {
            // Shut down.
        }
    }

    private void RegisterHandlers()
    {
        // Every status but Programmed comes from the translation, so a change re-translates and the publish that
        // follows queues the statuses (EnqueueStatusWork). Pods and waypoint Services feed Programmed and addresses.
        // Waypoint objects also depend on the Gateway, its class and their parameters: those changes queue the Gateways
        // directly (the reconcile waits for a translation of the current generation).
        void EnqueueGateways(Func<V1Gateway, bool> which)
        {
            foreach (var gateway in State.Gateways.Items.Where(which))
            {
                _queue.Add(new WorkItem(WorkKind.Gateway, NamespacedName.Of(gateway)));
            }
        }

        State.GatewayClasses.AddHandler((_, gatewayClass) =>
        {
            SignalChange();
            EnqueueGateways(g => g.Spec.GatewayClassName == gatewayClass.Metadata.Name);
        });
        State.Gateways.AddHandler((_, gateway) =>
        {
            SignalChange();
            _queue.Add(new WorkItem(WorkKind.Gateway, NamespacedName.Of(gateway)));
        });
        State.HttpRoutes.AddHandler((_, _) => SignalChange());
        State.Services.AddHandler((_, service) =>
        {
            SignalChange();
            if (service.Metadata.Labels?.TryGetValue(WaypointWorkload.GatewayNameLabel, out var gatewayName) == true)
            {
                _queue.Add(new WorkItem(WorkKind.Gateway, new NamespacedName(service.Metadata.NamespaceProperty ?? "", gatewayName)));
            }
        });
        State.Namespaces.AddHandler((_, _) => SignalChange());
        State.Pods.AddHandler((_, pod) =>
        {
            SignalChange();
            if (pod.Metadata.Labels?.TryGetValue(WaypointWorkload.GatewayNameLabel, out var gatewayName) == true)
            {
                _queue.Add(new WorkItem(WorkKind.Gateway, new NamespacedName(pod.Metadata.NamespaceProperty ?? "", gatewayName)));
            }
        });
        State.ReferenceGrants.AddHandler((_, _) => SignalChange());
        State.ServiceEntries.AddHandler((_, _) => SignalChange());
        State.EndpointSlices.AddHandler((_, _) => SignalChange());
        State.TrafficPolicies.AddHandler((_, _) => SignalChange());
        State.AuthorizationPolicies.AddHandler((_, _) => SignalChange());
        State.RequestAuthentications.AddHandler((_, _) => SignalChange());
        State.MeshConfig.AddHandler((_, _) => SignalChange());
        // A waypoint's own objects: any change (a kubectl edit, a deletion) re-checks its Gateway, which repairs drift.
        void EnqueueOwner(IKubernetesObject<V1ObjectMeta> owned)
        {
            if (owned.Metadata.Labels?.TryGetValue(WaypointWorkload.GatewayNameLabel, out var gatewayName) == true)
            {
                _queue.Add(new WorkItem(WorkKind.Gateway, new NamespacedName(owned.Metadata.NamespaceProperty ?? "", gatewayName)));
            }
        }

        State.ServiceAccounts.AddHandler((_, serviceAccount) => EnqueueOwner(serviceAccount));
        State.ConfigMaps.AddHandler((_, configMap) => EnqueueOwner(configMap));
        State.Deployments.AddHandler((_, deployment) => EnqueueOwner(deployment));
        State.Parameters.AddHandler((_, _) =>
        {
            SignalChange();
            EnqueueGateways(_ => true);
        });
    }

    /// <summary>
    /// Queues the statuses a translation decides: GatewayClasses and Gateways whose computed status (or waypoint-ness)
    /// differs from <paramref name="previous"/> (all of them without one), and the HTTPRoute and TrafficPolicy passes.
    /// </summary>
    /// <remarks>A Gateway reconcile reads its owned objects, so an endpoint change must not queue every Gateway.</remarks>
    private void EnqueueStatusWork(TranslationResult translation, TranslationResult? previous = null)
    {
        var previousClasses = previous?.GatewayClasses.ToDictionary(c => c.Name, StringComparer.Ordinal);
        foreach (var gatewayClass in translation.GatewayClasses)
        {
            if (previousClasses is null || !previousClasses.TryGetValue(gatewayClass.Name, out var before) || !Conditions.SameJson(before, gatewayClass))
            {
                _queue.Add(new WorkItem(WorkKind.GatewayClass, new NamespacedName("", gatewayClass.Name)));
            }
        }

        var previousGateways = previous?.Gateways.ToDictionary(g => g.Key);
        foreach (var gateway in translation.Gateways)
        {
            if (previousGateways is null || !previousGateways.TryGetValue(gateway.Key, out var before) || !Conditions.SameJson(before, gateway)
                || previous!.Waypoints.ContainsKey(gateway.Key) != translation.Waypoints.ContainsKey(gateway.Key))
            {
                _queue.Add(new WorkItem(WorkKind.Gateway, new NamespacedName(gateway.Key.Namespace, gateway.Key.Name)));
            }
        }

        _queue.Add(RouteStatuses);
        _queue.Add(PolicyStatuses);
    }

    private async Task RunPublisherAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            await _changed.WaitAsync(cancellationToken).ConfigureAwait(false);
            var burstStart = _timeProvider.GetTimestamp();

            // Debounce: wait until changes stop for Debounce, but never longer than MaxDebounce in total.
            while (true)
            {
                var sinceLast = _timeProvider.GetElapsedTime(Interlocked.Read(ref _lastChangeTicks));
                var sinceStart = _timeProvider.GetElapsedTime(burstStart);
                if (sinceLast >= _options.Debounce || sinceStart >= _options.MaxDebounce)
                {
                    break;
                }

                var wait = TimeSpan.FromTicks(Math.Min((_options.Debounce - sinceLast).Ticks, (_options.MaxDebounce - sinceStart).Ticks));
                await Task.Delay(wait, _timeProvider, cancellationToken).ConfigureAwait(false);
            }

            await PublishAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task PublishAsync(CancellationToken cancellationToken)
    {
        var snapshot = State.CreateSnapshot();
        var (rejections, rejectedGateways) = _rejections.Prepare(snapshot);
        if (rejections.Count > 0)
        {
            snapshot = snapshot with { EnvoyRejections = rejections };
        }

        var version = Interlocked.Increment(ref _version);
        try
        {
            // A waypoint whose translation throws keeps its last good resources (the translator isolates it) and
            // is retried with backoff; the others are published as usual.
            var started = _timeProvider.GetTimestamp();
            var translation = _translator.Translate(snapshot);
            _metrics?.Translated(_timeProvider.GetElapsedTime(started), translation.Errors.Count);
            var update = new WaypointConfigUpdate(version, snapshot, translation, _timeProvider.GetUtcNow());
            await _publisher.PublishAsync(update, cancellationToken).ConfigureAwait(false);
            var previous = _latest;
            _latest = update;
            ControllerLog.SnapshotPublished(_logger, version, snapshot.Gateways.Count, snapshot.HttpRoutes.Count, snapshot.Services.Count);
            foreach (var key in _rejections.Published(update).Concat(rejectedGateways))
            {
                _queue.Add(new WorkItem(WorkKind.Gateway, new NamespacedName(key.Namespace, key.Name)));
            }

            if (translation.Errors.Count > 0)
            {
                var retryIn = ScheduleRetry(cancellationToken);
                foreach (var error in translation.Errors)
                {
                    ControllerLog.WaypointTranslationFailed(_logger, error.Waypoint.ToString(), _translationFailures, retryIn, error.Exception);
                }
            }
            else
            {
                _translationFailures = 0;
            }

            EnqueueStatusWork(translation, previous?.Translation);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // The last good configuration stays in place.
            ControllerLog.PublishFailed(_logger, version, ex);
            ScheduleRetry(cancellationToken);
        }
    }

    /// <summary>
    /// The one full compacting collection after the first publish (<see cref="WaypointControllerOptions.CompactHeapAfterFirstPublish"/>):
    /// <see cref="GCCollectionMode.Aggressive"/> compacts every generation and the large-object heap and decommits the
    /// free space, so the RSS drops from the start's peak to what the caches and the published snapshot hold.
    /// </summary>
    private void CompactHeapOnce()
    {
        var before = GC.GetGCMemoryInfo();
        var started = Stopwatch.GetTimestamp();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        var after = GC.GetGCMemoryInfo();
        ControllerLog.HeapCompacted(_logger, before.TotalCommittedBytes / (1024 * 1024), after.TotalCommittedBytes / (1024 * 1024),
            after.HeapSizeBytes / (1024 * 1024), (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds);
    }

    /// <summary>Translates again after 100 ms × 2ⁿ (capped at 30 s), even if nothing changes in between.</summary>
    private TimeSpan ScheduleRetry(CancellationToken cancellationToken)
    {
        var failures = ++_translationFailures;
        var delay = TimeSpan.FromMilliseconds(Math.Min(100 * Math.Pow(2, Math.Min(failures - 1, 20)), MaxTranslationRetry.TotalMilliseconds));
        _ = RetryAsync();
        return delay;

        async Task RetryAsync()
        {
            try
            {
                await Task.Delay(delay, _timeProvider, cancellationToken).ConfigureAwait(false);
                SignalChange();
            }
            catch (OperationCanceledException)
            {
                // Shutting down.
            }
        }
    }

    /// <summary>The leader's work: reconcile everything once, then whatever the informers enqueue, until leadership ends.</summary>
    private async Task LeadAsync(CancellationToken cancellationToken)
    {
        if (_latest is { } latest)
        {
            EnqueueStatusWork(latest.Translation);
        }

        var workers = Enumerable.Range(0, _options.Workers).Select(_ => Task.Run(() => WorkAsync(cancellationToken), CancellationToken.None)).ToList();
        workers.Add(ResyncAsync(cancellationToken));
        workers.Add(WatchCertificatesAsync(cancellationToken));
        try
        {
            await Task.WhenAll(workers).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Leadership ended or shutting down.
        }
    }

    /// <summary>
    /// Warns (Event <c>CertificateFailed</c> on the Gateway) about an Envoy that opened its xDS stream with a client
    /// certificate already past 3/4 of its lifetime: the agent rotates at half life, so its rotation is failing. A
    /// stream keeps the certificate of its TLS handshake, so only the certificate at connect time says anything.
    /// </summary>
    private async Task WatchCertificatesAsync(CancellationToken cancellationToken)
    {
        if (_xdsStatus is null)
        {
            return;
        }

        while (!cancellationToken.IsCancellationRequested)
        {
            CheckCertificates();
            await Task.Delay(CertificateCheckPeriod, _timeProvider, cancellationToken).ConfigureAwait(false);
        }
    }

    internal void CheckCertificates()
    {
        var streams = _xdsStatus?.GetStreams() ?? [];
        _certificateWarnings.IntersectWith(streams.Select(s => s.StreamId));
        var waypoints = _latest?.Translation.Waypoints.Keys.ToDictionary(k => k.ToString(), StringComparer.Ordinal) ?? [];
        foreach (var stream in streams)
        {
            if (stream.ClientCertificate is not { } certificate || !waypoints.TryGetValue(stream.NodeGroup, out var key))
            {
                continue;
            }

            var lifetime = certificate.NotAfter - certificate.NotBefore;
            if (stream.ConnectedAt >= certificate.NotBefore + (lifetime * 0.75) && _certificateWarnings.Add(stream.StreamId))
            {
                var expired = stream.ConnectedAt >= certificate.NotAfter ? "expired" : "expires";
                RecordEvent(WellKnownSubject("Gateway", key.Namespace, key.Name), EventRecorder.Warning, "CertificateFailed",
                    $"Envoy {stream.NodeId} connected to xDS with a workload certificate issued {certificate.NotBefore:u} that {expired} {certificate.NotAfter:u}, past 3/4 of its lifetime: the agent's certificate rotation (at half life) is failing.");
            }
        }
    }

    private void OnEnvoyRejected(SourceObject blamed, string message) =>
        RecordEvent(WellKnownSubject(blamed.Kind, blamed.Namespace, blamed.Name), EventRecorder.Warning, "Rejected",
            $"Envoy rejected the configuration made from this {blamed.Kind}: {message}");

    /// <summary>Only the Lease holder writes Events, as it alone writes status.</summary>
    private void RecordEvent(EventSubject subject, string type, string reason, string message)
    {
        if (IsLeader)
        {
            _events.Record(subject, type, reason, message);
        }
    }

    /// <summary>The Event subject of an object we cache (with its uid, which <c>kubectl describe</c> matches on).</summary>
    private EventSubject WellKnownSubject(string kind, string ns, string name)
    {
        var key = new NamespacedName(ns, name);
        var (cached, apiVersion) = kind switch
        {
            "Gateway" => (Cached(State.Gateways), "gateway.networking.k8s.io/v1"),
            "HTTPRoute" => (Cached(State.HttpRoutes), "gateway.networking.k8s.io/v1"),
            "TrafficPolicy" => (Cached(State.TrafficPolicies), "gateway.kgateway.dev/v1alpha1"),
            V1AuthorizationPolicy.KubeKind => (Cached(State.AuthorizationPolicies), $"{V1AuthorizationPolicy.KubeGroup}/{V1AuthorizationPolicy.KubeApiVersion}"),
            V1RequestAuthentication.KubeKind => (Cached(State.RequestAuthentications), $"{V1RequestAuthentication.KubeGroup}/{V1RequestAuthentication.KubeApiVersion}"),
            V1ServiceEntry.KubeKind => (Cached(State.ServiceEntries), $"{V1ServiceEntry.KubeGroup}/{V1ServiceEntry.KubeApiVersion}"),
            "Service" => (Cached(State.Services), "v1"),
            _ => (null, "v1"),
        };
        return new EventSubject(cached?.ApiVersion ?? apiVersion, kind, ns, name, cached?.Metadata.Uid);

        IKubernetesObject<V1ObjectMeta>? Cached<T>(ResourceInformer<T> informer)
            where T : class, IKubernetesObject<V1ObjectMeta> => informer.TryGet(key, out var item) ? item : null;
    }

    /// <summary>Warning <c>PolicyInvalid</c> for each ancestor condition that newly says the policy is invalid (Envoy's rejections have their own Event).</summary>
    private void RecordInvalidPolicy(string kind, string ns, string name, IEnumerable<PolicyAncestorStatus> before, IEnumerable<PolicyAncestorStatus> after)
    {
        static IEnumerable<string> Invalid(IEnumerable<PolicyAncestorStatus> ancestors) => ancestors
            .SelectMany(a => a.Conditions)
            .Where(c => c is { Type: "Accepted" or "WaypointAccepted", Status: "False", Reason: "Invalid" } && c.Message?.StartsWith("Envoy rejected", StringComparison.Ordinal) != true)
            .Select(c => c.Message ?? "");

        foreach (var message in Invalid(after).Except(Invalid(before)).Distinct())
        {
            RecordEvent(WellKnownSubject(kind, ns, name), EventRecorder.Warning, "PolicyInvalid", message);
        }
    }

    private async Task ResyncAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            await Task.Delay(_options.ResyncPeriod, _timeProvider, cancellationToken).ConfigureAwait(false);
            PruneStatusWrites();
            if (_latest is { } latest)
            {
                EnqueueStatusWork(latest.Translation);
            }
        }
    }

    private async Task WorkAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            var (ok, item) = await _queue.TryGetAsync(cancellationToken).ConfigureAwait(false);
            if (!ok)
            {
                return;
            }

            var started = _timeProvider.GetTimestamp();
            try
            {
                await ReconcileAsync(item, cancellationToken).ConfigureAwait(false);
                _queue.Forget(item);
                ControllerLog.Reconciled(_logger, item.ToString());
                _metrics?.Reconciled(item.Kind.ToString(), success: true, _timeProvider.GetElapsedTime(started));
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // Re-queued so the next leader term (or replica) picks it up.
                _queue.Done(item);
                _queue.Add(item);
                return;
            }
            catch (Exception ex)
            {
                ControllerLog.ReconcileFailed(_logger, item.ToString(), _queue.Failures(item) + 1, ex);
                _metrics?.Reconciled(item.Kind.ToString(), success: false, _timeProvider.GetElapsedTime(started));
                _queue.AddRateLimited(item);
            }

            _queue.Done(item);
        }
    }

    private Task ReconcileAsync(WorkItem item, CancellationToken cancellationToken) => item.Kind switch
    {
        WorkKind.GatewayClass => ReconcileGatewayClassAsync(item.Name, cancellationToken),
        WorkKind.Gateway => ReconcileGatewayAsync(item.Name, cancellationToken),
        WorkKind.PolicyStatuses => ReconcilePolicyStatusesAsync(cancellationToken),
        _ => ReconcileRouteStatusesAsync(cancellationToken),
    };

    private async Task ReconcileGatewayClassAsync(NamespacedName name, CancellationToken cancellationToken)
    {
        if (!State.GatewayClasses.TryGet(name, out var gatewayClass)
            || _latest?.Translation.GatewayClasses.FirstOrDefault(c => c.Name == name.Name) is not { } computed
            || computed.ObservedGeneration != gatewayClass.Metadata.Generation)
        {
            // Not ours, or the translation predates this version of the class: the publish that follows re-queues it.
            return;
        }

        var now = _timeProvider.GetUtcNow();
        var status = new V1GatewayClassStatus
        {
            Conditions = computed.Conditions.Select(c => GatewayStatusWriter.Stamp(c, gatewayClass.Status?.Conditions, now)).ToList(),
        };
        if (Conditions.SameJson(status, gatewayClass.Status))
        {
            return;
        }

        await WriteStatusAsync(ResourceKind.GatewayClasses, gatewayClass with { Status = status }, cancellationToken).ConfigureAwait(false);
    }

    private async Task ReconcileGatewayAsync(NamespacedName name, CancellationToken cancellationToken)
    {
        // Deleted Gateways need nothing: their objects carry owner references and the garbage collector removes them.
        // The translator alone decides which Gateways are ours and whether they are waypoints.
        var key = new WaypointKey(name.Namespace, name.Name);
        if (!State.Gateways.TryGet(name, out var gateway)
            || gateway.Metadata.DeletionTimestamp is not null
            || _latest is not { } latest
            || latest.Translation.Gateways.FirstOrDefault(g => g.Key == key) is not { } computed
            || computed.ObservedGeneration != gateway.Metadata.Generation)
        {
            return;
        }

        var isWaypoint = latest.Translation.Waypoints.ContainsKey(key);
        string? programmingProblem = null;
        if (isWaypoint)
        {
            // The translator accepted the parameter references, so they resolve (or did, a moment ago).
            var classParameters = Parameters(State.GatewayClasses.TryGet(new NamespacedName("", gateway.Spec.GatewayClassName), out var gatewayClass) ? gatewayClass.Spec.ParametersRef : null, null);
            var gatewayParameters = Parameters(gateway.Spec.Infrastructure?.ParametersRef, gateway.Metadata.NamespaceProperty);
            var settings = WaypointWorkload.Resolve(_options, gateway, classParameters, gatewayParameters);
            var objects = WaypointWorkload.Build(gateway, settings, _options);
            foreach (var (kind, desired) in objects.All())
            {
                programmingProblem ??= await ApplyAsync(kind, desired, gateway, cancellationToken).ConfigureAwait(false);
            }
        }

        State.Services.TryGet(name, out var service);
        var observation = new GatewayObservation(isWaypoint, programmingProblem, _rejections.GatewayRejection(key), State.HasReadyPod(gateway), service);
        var status = GatewayStatusWriter.Compose(gateway, computed, observation, _options.ClusterDomain, _timeProvider.GetUtcNow());
        if (!Conditions.SameJson(status, gateway.Status))
        {
            await WriteStatusAsync(ResourceKind.Gateways, gateway with { Status = status }, cancellationToken).ConfigureAwait(false);
            if (IsProgrammed(status.Conditions) && !IsProgrammed(gateway.Status?.Conditions))
            {
                RecordEvent(WellKnownSubject("Gateway", name.Namespace, name.Name), EventRecorder.Normal, "Programmed",
                    $"Waypoint {name.Namespace}/{name.Name} is programmed: a pod is ready, addresses {string.Join(", ", status.Addresses?.Select(a => a.Value) ?? [])}.");
            }
        }

        static bool IsProgrammed(IEnumerable<V1Condition>? conditions) => conditions?.Any(c => c is { Type: "Programmed", Status: "True" }) == true;
    }

    private async Task ReconcileRouteStatusesAsync(CancellationToken cancellationToken)
    {
        if (_latest is not { } latest)
        {
            return;
        }

        var computed = latest.Translation.Routes.ToDictionary(r => new NamespacedName(r.Namespace, r.Name));
        var now = _timeProvider.GetUtcNow();
        List<Exception>? failures = null;
        foreach (var route in State.HttpRoutes.Items)
        {
            var key = NamespacedName.Of(route);
            if (computed.TryGetValue(key, out var result) && result.ObservedGeneration != route.Metadata.Generation)
            {
                // The translation predates this version of the route; the publish that follows the change re-queues us.
                continue;
            }

            var ours = RouteStatusCalculator.WithTransitionTimes(result?.Parents ?? [], route.Status, _options.ControllerName, now);
            var status = RouteStatusCalculator.Merge(route.Status, ours, _options.ControllerName);
            if (Conditions.SameJson(status.Parents, route.Status?.Parents ?? []))
            {
                continue;
            }

            try
            {
                await WriteStatusAsync(ResourceKind.HttpRoutes, route with { Status = status }, cancellationToken).ConfigureAwait(false);
            }
            catch (KubernetesApiException ex)
            {
                // One route's failed write (stale cache, 422 from a validating webhook, ...) must not hold up the
                // others; the pass is retried with backoff.
                (failures ??= []).Add(ex);
            }
        }

        if (failures is not null)
        {
            throw new AggregateException("Some HTTPRoute statuses could not be written.", failures);
        }
    }

    private async Task ReconcilePolicyStatusesAsync(CancellationToken cancellationToken)
    {
        if (_latest is not { } latest)
        {
            return;
        }

        var computed = latest.Translation.Policies.ToDictionary(p => new NamespacedName(p.Namespace, p.Name));
        var now = _timeProvider.GetUtcNow();
        List<Exception>? failures = null;
        foreach (var policy in State.TrafficPolicies.Items)
        {
            var key = NamespacedName.Of(policy);
            if (computed.TryGetValue(key, out var result) && result.ObservedGeneration != policy.Metadata.Generation)
            {
                continue; // the translation predates this version; the next publish re-queues us
            }

            var status = PolicyStatusCalculator.Merge(policy.Status, result?.Ancestors ?? [], _options.ControllerName, now);
            if (Conditions.SameJson(status.Ancestors, policy.Status?.Ancestors ?? []))
            {
                continue;
            }

            try
            {
                await WriteStatusAsync(ResourceKind.TrafficPolicies, policy with { Status = status }, cancellationToken).ConfigureAwait(false);
                RecordInvalidPolicy("TrafficPolicy", key.Namespace, key.Name, policy.Status?.Ancestors ?? [], status.Ancestors);
            }
            catch (KubernetesApiException ex)
            {
                (failures ??= []).Add(ex);
            }
        }

        // AuthorizationPolicies and RequestAuthentications: the same ancestor entries under our controller name; the rest
        // of the status (Istio's own conditions and validation messages) is kept as it is.
        await WriteIstioStatusesAsync(ResourceKind.AuthorizationPolicies, State.AuthorizationPolicies.Items, latest.Translation.AuthorizationPolicies, p => p.Status, (p, s) => p with { Status = s }).ConfigureAwait(false);
        await WriteIstioStatusesAsync(ResourceKind.RequestAuthentications, State.RequestAuthentications.Items, latest.Translation.RequestAuthentications, p => p.Status, (p, s) => p with { Status = s }).ConfigureAwait(false);

        async Task WriteIstioStatusesAsync<T>(ResourceKind kind, IEnumerable<T> items, IReadOnlyList<AuthorizationPolicyStatusResult> results, Func<T, AuthorizationPolicyStatus?> statusOf, Func<T, AuthorizationPolicyStatus, T> withStatus)
            where T : IKubernetesObject<V1ObjectMeta>
        {
            var byName = results.ToDictionary(p => new NamespacedName(p.Namespace, p.Name));
            foreach (var item in items)
            {
                if (byName.TryGetValue(NamespacedName.Of(item), out var result) && result.ObservedGeneration != item.Metadata.Generation)
                {
                    continue; // the translation predates this version; the next publish re-queues us
                }

                var current = statusOf(item)?.Ancestors ?? [];
                var merged = PolicyStatusCalculator.Merge(new PolicyStatus { Ancestors = current }, result?.Ancestors ?? [], _options.ControllerName, now);
                if (Conditions.SameJson(merged.Ancestors, current))
                {
                    continue;
                }

                var status = (statusOf(item) ?? new AuthorizationPolicyStatus()) with { Ancestors = merged.Ancestors.Count > 0 ? merged.Ancestors : null };
                try
                {
                    await WriteStatusAsync(kind, withStatus(item, status), cancellationToken).ConfigureAwait(false);
                    var policyKind = kind == ResourceKind.AuthorizationPolicies ? V1AuthorizationPolicy.KubeKind : V1RequestAuthentication.KubeKind;
                    RecordInvalidPolicy(policyKind, item.Metadata.NamespaceProperty ?? "", item.Metadata.Name, current, merged.Ancestors);
                }
                catch (KubernetesApiException ex)
                {
                    (failures ??= []).Add(ex);
                }
            }
        }

        if (failures is not null)
        {
            throw new AggregateException("Some TrafficPolicy, AuthorizationPolicy or RequestAuthentication statuses could not be written.", failures);
        }
    }

    /// <summary>
    /// Server-side applies the desired object unless the cached one already matches it (same config hash and every
    /// field we set still has our value: a <c>kubectl edit</c> of one of them is drift and is reverted). Fields other
    /// managers set and we don't are theirs and stay. Returns a problem for status when the name belongs to someone else.
    /// </summary>
    private async Task<string?> ApplyAsync(ResourceKind kind, IKubernetesObject<V1ObjectMeta> desired, V1Gateway owner, CancellationToken cancellationToken)
    {
        var ns = desired.Metadata.NamespaceProperty;
        var name = desired.Metadata.Name;
        IKubernetesObject<V1ObjectMeta>? existing = State.CachedOwned(kind, new NamespacedName(ns ?? "", name));
        if (existing is null)
        {
            // Not in the cache: absent, or taken by an object without our label. Asked once, when it is about to be created.
            try
            {
                existing = await _client.GetAsync<UnstructuredObject>(kind.ItemPath(ns, name), cancellationToken).ConfigureAwait(false);
            }
            catch (KubernetesApiException ex) when (ex.IsNotFound)
            {
                existing = null;
            }
        }

        if (existing is not null && existing.Metadata?.OwnerReferences?.Any(o => o.Uid == owner.Metadata.Uid) != true)
        {
            ControllerLog.ObjectNotOwned(_logger, kind.Kind, ns, name, owner.Metadata.Name);
            return $"{kind.Kind} {ns}/{name} already exists and is not owned by this Gateway.";
        }

        if (existing is not null && OwnedObjectDrift.Matches(existing, desired))
        {
            return null;
        }

        await _client.ApplyAsync<UnstructuredObject>(kind.ItemPath(ns, name), desired, FieldManager, cancellationToken).ConfigureAwait(false);
        if (existing is null)
        {
            ControllerLog.ObjectCreated(_logger, kind.Kind, ns, name);
        }
        else
        {
            ControllerLog.ObjectUpdated(_logger, kind.Kind, ns, name);
        }

        return null;
    }

    private async Task WriteStatusAsync<T>(ResourceKind kind, T obj, CancellationToken cancellationToken)
        where T : IKubernetesObject<V1ObjectMeta>
    {
        // PUT carries metadata.resourceVersion: a write based on a stale cache fails with 409 and is retried, never clobbers.
        var path = kind.ItemPath(obj.Metadata.NamespaceProperty, obj.Metadata.Name) + "/status";
        var json = KubernetesJson.Serialize(obj);
        var written = new StatusWrite(kind, NamespacedName.Of(obj), obj.Metadata.ResourceVersion, SHA256.HashData(Encoding.UTF8.GetBytes(json)));
        if (_statusWrites.TryGetValue(path, out var previous) && previous.SameAs(written))
        {
            return;
        }

        await _client.WriteAsync<UnstructuredObject>(HttpMethod.Put, path, json, cancellationToken).ConfigureAwait(false);
        _statusWrites[path] = written;
        ControllerLog.StatusWritten(_logger, kind.Kind, NamespacedName.Of(obj).ToString());
    }

    /// <summary>
    /// Forgets status writes the cache has caught up with (the object's resourceVersion moved on) or whose object is
    /// gone: a reconcile now starts from a newer version, so those entries can no longer match.
    /// </summary>
    internal void PruneStatusWrites()
    {
        foreach (var (path, write) in _statusWrites)
        {
            if (CachedResourceVersion(write.Kind, write.Name) != write.BaseVersion)
            {
                _statusWrites.TryRemove(new KeyValuePair<string, StatusWrite>(path, write));
            }
        }
    }

    internal int PendingStatusWrites => _statusWrites.Count;

    private string? CachedResourceVersion(ResourceKind kind, NamespacedName name)
    {
        IKubernetesObject<V1ObjectMeta>? cached = null;
        if (kind == ResourceKind.Gateways && State.Gateways.TryGet(name, out var gateway))
        {
            cached = gateway;
        }
        else if (kind == ResourceKind.HttpRoutes && State.HttpRoutes.TryGet(name, out var route))
        {
            cached = route;
        }
        else if (kind == ResourceKind.GatewayClasses && State.GatewayClasses.TryGet(name, out var gatewayClass))
        {
            cached = gatewayClass;
        }
        else if (kind == ResourceKind.TrafficPolicies && State.TrafficPolicies.TryGet(name, out var policy))
        {
            cached = policy;
        }
        else if (kind == ResourceKind.AuthorizationPolicies && State.AuthorizationPolicies.TryGet(name, out var authorizationPolicy))
        {
            cached = authorizationPolicy;
        }
        else if (kind == ResourceKind.RequestAuthentications && State.RequestAuthentications.TryGet(name, out var requestAuthentication))
        {
            cached = requestAuthentication;
        }

        return cached?.Metadata.ResourceVersion;
    }

    private sealed record StatusWrite(ResourceKind Kind, NamespacedName Name, string? BaseVersion, byte[] Hash)
    {
        public bool SameAs(StatusWrite other) => BaseVersion == other.BaseVersion && Hash.AsSpan().SequenceEqual(other.Hash);
    }

    /// <summary>The WaypointParameters a reference names (the translator has checked its group, kind and namespace).</summary>
    private V1alpha1WaypointParameters? Parameters(ParametersReference? reference, string? localNamespace) =>
        reference is not null && (localNamespace ?? reference.Namespace) is { Length: > 0 } ns
        && State.Parameters.TryGet(new NamespacedName(ns, reference.Name), out var parameters) ? parameters : null;

    private enum WorkKind
    {
        GatewayClass,
        Gateway,
        RouteStatuses,
        PolicyStatuses,
    }

    private readonly record struct WorkItem(WorkKind Kind, NamespacedName Name)
    {
        public override string ToString() => Kind switch
        {
            WorkKind.RouteStatuses => "HTTPRoute statuses",
            WorkKind.PolicyStatuses => "TrafficPolicy, AuthorizationPolicy and RequestAuthentication statuses",
            _ => $"{Kind} {Name}",
        };
    }
}
