using System.Globalization;
using Envoy.Config.Core.V3;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Waypoint.Xds.Diagnostics;
using Waypoint.Xds.Security;

namespace Waypoint.Xds.Internal;

/// <summary>The services every ADS stream uses.</summary>
internal sealed class AdsServices(
    XdsSnapshotCache cache,
    INodeGroupResolver resolver,
    XdsServerStatus status,
    XdsMetrics metrics,
    TimeProvider timeProvider,
    ILogger<AdsServices> logger)
{
    public XdsSnapshotCache Cache { get; } = cache;

    public INodeGroupResolver Resolver { get; } = resolver;

    public XdsServerStatus Status { get; } = status;

    public XdsMetrics Metrics { get; } = metrics;

    public TimeProvider Time { get; } = timeProvider;

    public ILogger Logger { get; } = logger;
}

/// <summary>
/// One ADS stream, state of the world or delta. A single loop owns all state: it handles Envoy's requests and wakes
/// when the node group's snapshot changes, then pushes what Envoy lacks in dependency order.
/// </summary>
/// <remarks>
/// Ordering follows the xDS protocol's eventual-consistency rules ("make before break"):
/// clusters and their endpoints are delivered and ACKed before listeners and routes that may reference them are sent,
/// and clusters that left the snapshot are withdrawn only once listeners and routes are up to date. Each type has
/// at most one unanswered response, so every ACK or NACK names exactly one version.
/// </remarks>
internal abstract class AdsStream<TRequest, TResponse>
    where TRequest : class
    where TResponse : class
{
    private readonly IAsyncStreamReader<TRequest> _requests;
    private readonly IServerStreamWriter<TResponse> _responses;
    private readonly AdsTypeState?[] _types = new AdsTypeState?[XdsTypeUrls.PushOrder.Count];
    private long _lastNonce;
    private XdsServerStatus.StreamStatus? _status;

    protected AdsStream(AdsServices services, IAsyncStreamReader<TRequest> requests, IServerStreamWriter<TResponse> responses, CancellationToken cancellationToken)
    {
        Services = services;
        _requests = requests;
        _responses = responses;
        CancellationToken = cancellationToken;
    }

    protected AdsServices Services { get; }

    protected CancellationToken CancellationToken { get; }

    protected string NodeId { get; private set; } = "(unknown)";

    protected string NodeGroup { get; private set; } = string.Empty;

    protected abstract XdsProtocol Protocol { get; }

    public async Task RunAsync(XdsPeer peer)
    {
        if (!await _requests.MoveNext(CancellationToken).ConfigureAwait(false))
        {
            return;
        }

        var first = _requests.Current;
        var node = GetNode(first) ?? throw Invalid("the first request on a stream must carry the node");
        NodeId = string.IsNullOrEmpty(node.Id) ? "(no id)" : node.Id;
        var resolution = Services.Resolver.Resolve(node, peer.Identity);
        if (resolution.NodeGroup is null)
        {
            throw Refused(node, peer, resolution);
        }

        NodeGroup = resolution.NodeGroup;

        _status = Services.Status.Register(NodeId, NodeGroup, Protocol, Services.Time.GetUtcNow(), peer.Certificate);
        Services.Metrics.StreamOpened(Protocol);
        XdsServerLog.StreamOpened(Services.Logger, Protocol, _status.StreamId, NodeId, NodeGroup);
        try
        {
            HandleRequest(first);
            var moveNext = _requests.MoveNext(CancellationToken);
            var waitingLogged = false;
            while (true)
            {
                var observation = Services.Cache.Observe(NodeGroup);
                if (observation.Snapshot is null)
                {
                    if (!waitingLogged)
                    {
                        XdsServerLog.WaitingForSnapshot(Services.Logger, NodeGroup, NodeId);
                        waitingLogged = true;
                    }
                }
                else
                {
                    await PushAsync(observation.Snapshot).ConfigureAwait(false);
                }

                var completed = await Task.WhenAny(moveNext, observation.Changed).ConfigureAwait(false);
                if (completed == moveNext)
                {
                    if (!await moveNext.ConfigureAwait(false))
                    {
                        return;
                    }

                    HandleRequest(_requests.Current);
                    moveNext = _requests.MoveNext(CancellationToken);
                }
            }
        }
        finally
        {
            Services.Status.Unregister(_status);
            Services.Metrics.StreamClosed(Protocol);
            XdsServerLog.StreamClosed(Services.Logger, _status.StreamId, NodeId);
        }
    }

    protected abstract Node? GetNode(TRequest request);

    protected abstract string GetTypeUrl(TRequest request);

    protected abstract string GetResponseNonce(TRequest request);

    protected abstract Google.Rpc.Status? GetErrorDetail(TRequest request);

    /// <summary>Applies the request's subscription (and, on the first request of a type, what Envoy already has).</summary>
    protected abstract void UpdateSubscription(AdsTypeState state, TRequest request, bool firstRequest);

    /// <summary>Whether the type still lacks something the snapshot has (ignoring a rejected version).</summary>
    protected abstract bool NeedsPush(AdsTypeState state, XdsSnapshot snapshot);

    /// <summary>The response bringing Envoy up to date for one type, or null when there is nothing to send.</summary>
    protected abstract (TResponse Response, PendingResponse Pending)? BuildResponse(
        AdsTypeState state, XdsSnapshot snapshot, bool deferClusterRemovals, string nonce);

    private RpcException Refused(Node node, XdsPeer peer, NodeGroupResolution resolution)
    {
        var reason = resolution.Reason!;
        if (resolution.Refusal == StatusCode.InvalidArgument)
        {
            return Invalid(reason);
        }

        if (peer.UnauthenticatedReason is { } why && resolution.Refusal == StatusCode.Unauthenticated)
        {
            reason = $"{reason} ({why})";
        }

        XdsServerLog.StreamRefused(Services.Logger, NodeId, Truncate(node.Cluster), peer.Identity?.SpiffeId ?? "(none)", peer.Address, resolution.Refusal, reason);
        Services.Metrics.RequestRejected(resolution.Refusal == StatusCode.Unauthenticated ? "unauthenticated" : "permission_denied");
        return new RpcException(new Status(resolution.Refusal, reason));
    }

    protected RpcException Invalid(string reason)
    {
        XdsServerLog.InvalidRequest(Services.Logger, NodeId, reason);
        Services.Metrics.RequestRejected(reason.StartsWith("unknown type", StringComparison.Ordinal) ? "unknown_type"
            : reason.Contains("nonce", StringComparison.Ordinal) ? "unknown_nonce" : "invalid_node");
        return new RpcException(new Status(StatusCode.InvalidArgument, reason));
    }

    private AdsTypeState? State(string typeUrl) => _types[XdsTypeUrls.IndexOf(typeUrl)];

    /// <summary>Envoy still holds cluster <paramref name="name"/> (e.g. while its removal waits), so keep its endpoints.</summary>
    protected bool IsClusterHeld(string name) => State(XdsTypeUrls.Cluster)?.Acked.ContainsKey(name) == true;

    private void HandleRequest(TRequest request)
    {
        var typeUrl = GetTypeUrl(request);
        var index = XdsTypeUrls.IndexOf(typeUrl);
        if (index < 0)
        {
            throw Invalid($"unknown type URL '{typeUrl}'");
        }

        var state = _types[index] ??= new AdsTypeState(typeUrl);
        var nonce = GetResponseNonce(request);
        if (nonce.Length > 0)
        {
            if (!long.TryParse(nonce, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value < 1 || value > _lastNonce)
            {
                throw Invalid($"response_nonce '{Truncate(nonce)}' was never sent on this stream");
            }

            if (nonce != state.LastNonce)
            {
                // The xDS protocol: a request answering an older response is superseded; Envoy will answer the latest.
                // State of the world requests restate the whole subscription, so the next one carries it; delta
                // requests carry subscription changes only once, so those still apply.
                XdsServerLog.StaleNonce(Services.Logger, typeUrl, nonce, NodeId, state.LastNonce);
                if (Protocol == XdsProtocol.StateOfTheWorld)
                {
                    return;
                }
            }
            else if (state.Pending is { } pending && pending.Nonce == nonce)
            {
                state.Pending = null;
                var elapsed = Services.Time.GetElapsedTime(pending.Timestamp);
                if (GetErrorDetail(request) is { } error)
                {
                    OnNack(state, pending, error, elapsed);
                }
                else
                {
                    state.Commit(pending);
                    Services.Metrics.Answered(typeUrl, accepted: true, elapsed);
                    XdsServerLog.Ack(Services.Logger, NodeId, typeUrl, pending.Version, nonce);
                }
            }
        }

        var firstRequest = !state.Subscribed;
        UpdateSubscription(state, request, firstRequest);
        state.Subscribed = true;
        PublishStatus(state, null);
    }

    private void OnNack(AdsTypeState state, PendingResponse pending, Google.Rpc.Status error, TimeSpan elapsed)
    {
        state.NackedSnapshotVersion = pending.SnapshotVersion;
        state.NackedSubscriptionKey = pending.SubscriptionKey;
        state.NackedVersion = pending.Version;
        var record = new XdsNackRecord(NodeId, NodeGroup, state.TypeUrl, pending.Version, pending.Nonce, error.Code,
            error.Message ?? string.Empty, Services.Time.GetUtcNow());
        XdsServerLog.Nack(Services.Logger, NodeId, NodeGroup, state.TypeUrl, pending.Version, pending.Nonce, record.ErrorMessage);
        Services.Metrics.Nacked(state.TypeUrl);
        Services.Metrics.Answered(state.TypeUrl, accepted: false, elapsed);
        Services.Status.RecordNack(record, pending.Resources);
        PublishStatus(state, record);
    }

    private async Task PushAsync(XdsSnapshot snapshot)
    {
        var clustersSettled = ClustersSettled(snapshot);
        var routesSettled = RoutesSettled(snapshot);
        foreach (var typeUrl in XdsTypeUrls.PushOrder)
        {
            var state = State(typeUrl);
            if (state is null || !state.Subscribed || state.Pending is not null)
            {
                continue;
            }

            if (typeUrl is XdsTypeUrls.Listener or XdsTypeUrls.RouteConfiguration && !clustersSettled)
            {
                continue;
            }

            if (typeUrl == XdsTypeUrls.ClusterLoadAssignment && AwaitingEndpointSubscription(snapshot))
            {
                continue;
            }

            var nonce = (_lastNonce + 1).ToString(CultureInfo.InvariantCulture);
            var ackedBefore = state.AckedVersion;
            if (BuildResponse(state, snapshot, deferClusterRemovals: typeUrl == XdsTypeUrls.Cluster && !routesSettled, nonce) is not { } built)
            {
                if (state.AckedVersion != ackedBefore)
                {
                    PublishStatus(state, null);
                }

                continue;
            }

            _lastNonce++;
            state.Pending = built.Pending;
            state.LastNonce = nonce;
            state.Pushes++;
            await _responses.WriteAsync(built.Response, CancellationToken).ConfigureAwait(false);
            Services.Metrics.Pushed(typeUrl);
            XdsServerLog.Pushed(Services.Logger, typeUrl, built.Pending.Version, nonce, built.Pending.Resources.Count, built.Pending.Removed.Count, NodeId);
            PublishStatus(state, null);
            if (typeUrl == XdsTypeUrls.Cluster)
            {
                clustersSettled = false;
            }
        }
    }

    /// <summary>
    /// Envoy has every cluster of the snapshot (or rejected them) and has endpoints for all EDS clusters:
    /// listeners and routes may now reference them.
    /// </summary>
    private bool ClustersSettled(XdsSnapshot snapshot)
    {
        var clusters = State(XdsTypeUrls.Cluster);
        if (clusters is null || !clusters.Subscribed)
        {
            return true;
        }

        if (clusters.Pending is not null)
        {
            return false;
        }

        var clustersRejected = clusters.IsNacked(snapshot.Clusters.Version);
        if (!clustersRejected)
        {
            foreach (var cluster in clusters.Select(snapshot.Clusters))
            {
                if (!clusters.Acked.TryGetValue(cluster.Name, out var acked) || acked.Version != cluster.Version)
                {
                    return false;
                }
            }
        }

        var edsNames = snapshot.EdsServiceNames;
        if (edsNames.Count == 0)
        {
            return true;
        }

        var endpoints = State(XdsTypeUrls.ClusterLoadAssignment);
        if (endpoints is null || !endpoints.Subscribed || endpoints.Pending is not null)
        {
            return false;
        }

        // Envoy asks for a cluster's endpoints only after accepting the cluster; until it has asked, routes to it would fail.
        // Rejected clusters will never be asked for, so then only in-flight endpoint pushes count.
        if (!endpoints.Wildcard && !clustersRejected)
        {
            foreach (var name in edsNames)
            {
                if (!endpoints.Names.Contains(name))
                {
                    return false;
                }
            }
        }

        return !NeedsPush(endpoints, snapshot);
    }

    /// <summary>
    /// Envoy is about to extend its endpoint subscription: it is processing clusters, or has accepted clusters whose
    /// endpoints it has not asked for yet. Endpoints sent now would be superseded at once.
    /// </summary>
    /// <remarks>
    /// Envoy ACKs a CDS response only once new clusters have warmed, i.e. after their endpoints arrived; it asks for
    /// those endpoints first. So this waits for the subscription, never for the CDS ACK.
    /// </remarks>
    private bool AwaitingEndpointSubscription(XdsSnapshot snapshot)
    {
        var clusters = State(XdsTypeUrls.Cluster);
        var endpoints = State(XdsTypeUrls.ClusterLoadAssignment)!;
        if (clusters is null || !clusters.Subscribed || endpoints.Wildcard)
        {
            return false;
        }

        if (clusters.Pending is null)
        {
            if (clusters.IsNacked(snapshot.Clusters.Version))
            {
                return false;
            }

            foreach (var cluster in clusters.Select(snapshot.Clusters))
            {
                if (!clusters.Acked.TryGetValue(cluster.Name, out var acked) || acked.Version != cluster.Version)
                {
                    // Some clusters are not in Envoy (nor on their way): its subscription cannot cover them yet.
                    return false;
                }
            }
        }

        foreach (var name in snapshot.EdsServiceNames)
        {
            if (!endpoints.Names.Contains(name))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Listeners and routes are up to date, so clusters that left the snapshot are no longer referenced.</summary>
    private bool RoutesSettled(XdsSnapshot snapshot)
    {
        foreach (var typeUrl in (ReadOnlySpan<string>)[XdsTypeUrls.Listener, XdsTypeUrls.RouteConfiguration])
        {
            var state = State(typeUrl);
            if (state is { Subscribed: true } && (state.Pending is not null || NeedsPush(state, snapshot)))
            {
                return false;
            }
        }

        return true;
    }

    private void PublishStatus(AdsTypeState state, XdsNackRecord? nack)
    {
        _status?.Update(state.TypeUrl, current => current with
        {
            Wildcard = state.Wildcard,
            ResourceNames = state.Names.Order(StringComparer.Ordinal).Take(100).ToArray(),
            LastSentVersion = state.Pending?.Version ?? current.LastSentVersion,
            LastSentNonce = state.LastNonce,
            LastAckedVersion = state.AckedVersion,
            LastNack = nack ?? current.LastNack,
            Pushes = state.Pushes,
        });
    }

    private static string Truncate(string value) => value.Length <= 64 ? value : value[..64] + "...";
}
