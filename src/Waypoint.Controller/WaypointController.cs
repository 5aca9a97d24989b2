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
using Waypoint.Controller.LeaderElection;
using Waypoint.Controller.Queues;
using Waypoint.Controller.Reconciliation;
using Waypoint.Translator;
using Waypoint.Translator.Model;

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

    // Status writes this replica made, by path: the resourceVersion the write was based on and a hash of the object
    // written. Until the watch delivers our own write, the cache still holds that resourceVersion; a reconcile in
    // between would compute the same status again and send a PUT bound to fail with 409. Entries are dropped once the
    // cache has moved past them (see PruneStatusWrites), so the memo stays as small as the writes in flight.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, StatusWrite> _statusWrites = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource _firstPublish = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _version;
    private long _lastChangeTicks;

    public WaypointController(
        KubernetesApiClient client,
        IOptions<WaypointControllerOptions> options,
        IWaypointConfigPublisher publisher,
        TimeProvider timeProvider,
        ILoggerFactory loggerFactory,
        InformerOptions? informerOptions = null,
        IHostApplicationLifetime? lifetime = null)
    {
        _lifetime = lifetime;
        _client = client;
        _options = options.Value;
        _publisher = publisher;
        _timeProvider = timeProvider;
        _logger = loggerFactory.CreateLogger<WaypointController>();
        _queue = new WorkQueue<WorkItem>(timeProvider);
        _translator = new WaypointTranslator(new TranslatorOptions
        {
            TrustDomain = _options.TrustDomain,
            ClusterDomain = _options.ClusterDomain,
            GatewayClassName = _options.GatewayClassName,
            ControllerName = _options.ControllerName,
        });
        State = new ClusterState(client, _options, informerOptions ?? new InformerOptions(), loggerFactory, timeProvider);
        if (_options.LeaderElection.Enabled)
        {
            _campaign = new LeaderCampaign(client, _options.LeaderElection, _options.Namespace, loggerFactory.CreateLogger<LeaderCampaign>());
        }

        RegisterHandlers();
    }

    public ClusterState State { get; }

    public bool IsLeader => _campaign?.IsLeader ?? true;

    public long PublishedVersion => Interlocked.Read(ref _version);

    /// <summary>The last snapshot that translated successfully (what the xDS server serves).</summary>
    public WaypointConfigUpdate? Latest => _latest;

    /// <summary>Completes once every informer synced and the first snapshot was published.</summary>
    public Task Started => _firstPublish.Task;

    public override void Dispose()
    {
        _queue.ShutDown();
        _queue.Dispose();
        _changed.Dispose();
        base.Dispose();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Every loop runs until the host stops. The first one to end otherwise (faulted, or returned) ends them all and
        // stops the process: a restarted pod is a known state, a controller with a dead loop is not.
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        var loops = State.All
            .Select(i => (Name: $"{i.Kind} informer", Task: Task.Run(() => i.RunAsync(stopping.Token), CancellationToken.None)))
            .Append((Name: "controller", Task: Task.Run(() => RunLoopsAsync(stopping.Token), CancellationToken.None)))
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

    private void RegisterHandlers()
    {
        void Changed()
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
        }

        void EnqueueOurGateways()
        {
            foreach (var gateway in State.OurGateways())
            {
                _queue.Add(WorkItem.Gateway(gateway));
            }
        }

        State.GatewayClasses.AddHandler((_, gatewayClass) =>
        {
            Changed();
            _queue.Add(new WorkItem(WorkKind.GatewayClass, NamespacedName.Of(gatewayClass)));
            foreach (var gateway in State.Gateways.Items.Where(g => g.Spec.GatewayClassName == gatewayClass.Metadata.Name))
            {
                _queue.Add(WorkItem.Gateway(gateway));
            }

            _queue.Add(RouteStatuses);
        });
        State.Gateways.AddHandler((_, gateway) =>
        {
            Changed();
            _queue.Add(WorkItem.Gateway(gateway));
            _queue.Add(RouteStatuses);
        });
        State.HttpRoutes.AddHandler((_, _) =>
        {
            Changed();
            _queue.Add(RouteStatuses);
            EnqueueOurGateways();
        });
        State.Services.AddHandler((_, service) =>
        {
            Changed();
            _queue.Add(RouteStatuses);
            if (service.Metadata.Labels?.TryGetValue(WaypointWorkload.GatewayNameLabel, out var gatewayName) == true)
            {
                _queue.Add(new WorkItem(WorkKind.Gateway, new NamespacedName(service.Metadata.NamespaceProperty ?? "", gatewayName)));
            }
        });
        State.Namespaces.AddHandler((_, _) =>
        {
            Changed();
            _queue.Add(RouteStatuses);
        });
        State.Pods.AddHandler((_, pod) =>
        {
            Changed();
            if (pod.Metadata.Labels?.TryGetValue(WaypointWorkload.GatewayNameLabel, out var gatewayName) == true)
            {
                _queue.Add(new WorkItem(WorkKind.Gateway, new NamespacedName(pod.Metadata.NamespaceProperty ?? "", gatewayName)));
            }
        });
        State.ReferenceGrants.AddHandler((_, _) =>
        {
            Changed();
            _queue.Add(RouteStatuses);
        });
        State.ServiceEntries.AddHandler((_, _) =>
        {
            Changed();
            _queue.Add(RouteStatuses);
        });
        State.EndpointSlices.AddHandler((_, _) => Changed());

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
        State.TrafficPolicies.AddHandler((_, _) => Changed());
        State.Parameters.AddHandler((_, _) =>
        {
            foreach (var gatewayClass in State.GatewayClasses.Items)
            {
                _queue.Add(new WorkItem(WorkKind.GatewayClass, NamespacedName.Of(gatewayClass)));
            }

            EnqueueOurGateways();
        });
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
        var version = Interlocked.Increment(ref _version);
        try
        {
            // Translation is pure and must not fail; if it does, the last good configuration stays in place.
            var translation = _translator.Translate(snapshot);
            var update = new WaypointConfigUpdate(version, snapshot, translation, _timeProvider.GetUtcNow());
            await _publisher.PublishAsync(update, cancellationToken).ConfigureAwait(false);
            _latest = update;
            ControllerLog.SnapshotPublished(_logger, version, snapshot.Gateways.Count, snapshot.HttpRoutes.Count, snapshot.Services.Count);

            // Route statuses come from the translation: re-check them against what was just translated.
            _queue.Add(RouteStatuses);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            ControllerLog.PublishFailed(_logger, version, ex);
        }
    }

    /// <summary>The leader's work: reconcile everything once, then whatever the informers enqueue, until leadership ends.</summary>
    private async Task LeadAsync(CancellationToken cancellationToken)
    {
        foreach (var gatewayClass in State.GatewayClasses.Items)
        {
            _queue.Add(new WorkItem(WorkKind.GatewayClass, NamespacedName.Of(gatewayClass)));
        }

        foreach (var gateway in State.Gateways.Items)
        {
            _queue.Add(WorkItem.Gateway(gateway));
        }

        _queue.Add(RouteStatuses);
        var workers = Enumerable.Range(0, _options.Workers).Select(_ => Task.Run(() => WorkAsync(cancellationToken), CancellationToken.None)).ToList();
        workers.Add(ResyncAsync(cancellationToken));
        try
        {
            await Task.WhenAll(workers).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Leadership ended or shutting down.
        }
    }

    private async Task ResyncAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            await Task.Delay(_options.ResyncPeriod, _timeProvider, cancellationToken).ConfigureAwait(false);
            PruneStatusWrites();
            foreach (var gateway in State.OurGateways())
            {
                _queue.Add(WorkItem.Gateway(gateway));
            }

            _queue.Add(RouteStatuses);
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

            try
            {
                await ReconcileAsync(item, cancellationToken).ConfigureAwait(false);
                _queue.Forget(item);
                ControllerLog.Reconciled(_logger, item.ToString());
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
                _queue.AddRateLimited(item);
            }

            _queue.Done(item);
        }
    }

    private Task ReconcileAsync(WorkItem item, CancellationToken cancellationToken) => item.Kind switch
    {
        WorkKind.GatewayClass => ReconcileGatewayClassAsync(item.Name, cancellationToken),
        WorkKind.Gateway => ReconcileGatewayAsync(item.Name, cancellationToken),
        _ => ReconcileRouteStatusesAsync(cancellationToken),
    };

    private async Task ReconcileGatewayClassAsync(NamespacedName name, CancellationToken cancellationToken)
    {
        if (!State.GatewayClasses.TryGet(name, out var gatewayClass) || gatewayClass.Spec.ControllerName != _options.ControllerName)
        {
            return;
        }

        var problem = ParametersProblem(gatewayClass.Spec.ParametersRef, null, out _);
        var now = _timeProvider.GetUtcNow();
        var status = new V1GatewayClassStatus
        {
            Conditions =
            [
                problem is null
                    ? Conditions.Make("Accepted", true, "Accepted", "Handled by the waypoint controller.", gatewayClass.Metadata.Generation, gatewayClass.Status?.Conditions, now)
                    : Conditions.Make("Accepted", false, "InvalidParameters", problem, gatewayClass.Metadata.Generation, gatewayClass.Status?.Conditions, now),
            ],
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
        if (!State.Gateways.TryGet(name, out var gateway) || !State.IsOurs(gateway) || gateway.Metadata.DeletionTimestamp is not null)
        {
            return;
        }

        var ourClass = State.OurClass()!;
        var classProblem = ParametersProblem(ourClass.Spec.ParametersRef, null, out var classParameters);
        var gatewayProblem = ParametersProblem(GatewayParametersRef.Get(gateway), gateway.Metadata.NamespaceProperty, out var gatewayParameters);
        var parametersProblem = gatewayProblem ?? (classProblem is null ? null : "GatewayClass " + classProblem);

        string? programmingProblem = null;
        if (parametersProblem is null && gateway.Spec.Addresses is not { Count: > 0 } && GatewayStatusCalculator.HasValidListener(gateway))
        {
            var settings = WaypointWorkload.Resolve(_options, gateway, classParameters, gatewayParameters);
            var objects = WaypointWorkload.Build(gateway, settings, _options);
            foreach (var (kind, desired) in objects.All())
            {
                programmingProblem ??= await ApplyAsync(kind, desired, gateway, cancellationToken).ConfigureAwait(false);
            }
        }

        State.Services.TryGet(name, out var service);
        var attached = State.HttpRoutes.Items.Count(r => r.Spec.ParentRefs?.Any(p =>
            (p.Kind ?? "Gateway") == "Gateway" && p.Name == name.Name && (p.Namespace ?? r.Metadata.NamespaceProperty) == name.Namespace) == true);
        var observation = new GatewayObservation(parametersProblem, programmingProblem, State.HasReadyPod(gateway), service, attached);
        var status = GatewayStatusCalculator.Compute(gateway, observation, _options.ClusterDomain, _timeProvider.GetUtcNow());
        if (!Conditions.SameJson(status, gateway.Status))
        {
            await WriteStatusAsync(ResourceKind.Gateways, gateway with { Status = status }, cancellationToken).ConfigureAwait(false);
        }
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
            catch (KubernetesApiException ex) when (ex.StatusCode is HttpStatusCode.Conflict or HttpStatusCode.NotFound)
            {
                // One route's stale cache entry must not hold up the others; the pass is retried with backoff.
                (failures ??= []).Add(ex);
            }
        }

        if (failures is not null)
        {
            throw new AggregateException("Some HTTPRoute statuses could not be written.", failures);
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

        return cached?.Metadata.ResourceVersion;
    }

    private sealed record StatusWrite(ResourceKind Kind, NamespacedName Name, string? BaseVersion, byte[] Hash)
    {
        public bool SameAs(StatusWrite other) => BaseVersion == other.BaseVersion && Hash.AsSpan().SequenceEqual(other.Hash);
    }

    /// <summary>Null when the reference is absent or resolves to a WaypointParameters object; otherwise what is wrong.</summary>
    private string? ParametersProblem(ParametersReference? reference, string? localNamespace, out V1alpha1WaypointParameters? parameters)
    {
        parameters = null;
        if (reference is null)
        {
            return null;
        }

        if (reference.Group != V1alpha1WaypointParameters.KubeGroup || reference.Kind != V1alpha1WaypointParameters.KubeKind)
        {
            return $"parametersRef must be {V1alpha1WaypointParameters.KubeGroup}/{V1alpha1WaypointParameters.KubeKind}, not {reference.Group}/{reference.Kind}.";
        }

        var ns = localNamespace ?? reference.Namespace;
        if (string.IsNullOrEmpty(ns))
        {
            return "parametersRef needs a namespace.";
        }

        if (!State.Parameters.TryGet(new NamespacedName(ns, reference.Name), out parameters))
        {
            return $"WaypointParameters {ns}/{reference.Name} not found.";
        }

        return null;
    }

    private enum WorkKind
    {
        GatewayClass,
        Gateway,
        RouteStatuses,
    }

    private readonly record struct WorkItem(WorkKind Kind, NamespacedName Name)
    {
        public static WorkItem Gateway(V1Gateway gateway) => new(WorkKind.Gateway, NamespacedName.Of(gateway));

        public override string ToString() => Kind == WorkKind.RouteStatuses ? "HTTPRoute statuses" : $"{Kind} {Name}";
    }
}
