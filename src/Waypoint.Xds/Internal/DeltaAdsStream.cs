using Envoy.Config.Core.V3;
using Envoy.Service.Discovery.V3;
using Grpc.Core;
using Waypoint.Xds.Diagnostics;

namespace Waypoint.Xds.Internal;

/// <summary>
/// Incremental (delta) ADS: responses carry only resources whose version Envoy lacks, and <c>removed_resources</c>
/// for names that left the snapshot (or that Envoy asked for and that do not exist).
/// </summary>
internal sealed class DeltaAdsStream(
    AdsServices services,
    IAsyncStreamReader<DeltaDiscoveryRequest> requests,
    IServerStreamWriter<DeltaDiscoveryResponse> responses,
    CancellationToken cancellationToken)
    : AdsStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>(services, requests, responses, cancellationToken)
{
    protected override XdsProtocol Protocol => XdsProtocol.Delta;

    protected override Node? GetNode(DeltaDiscoveryRequest request) => request.Node;

    protected override string GetTypeUrl(DeltaDiscoveryRequest request) => request.TypeUrl;

    protected override string GetResponseNonce(DeltaDiscoveryRequest request) => request.ResponseNonce;

    protected override Google.Rpc.Status? GetErrorDetail(DeltaDiscoveryRequest request) => request.ErrorDetail;

    protected override void UpdateSubscription(AdsTypeState state, DeltaDiscoveryRequest request, bool firstRequest)
    {
        var wildcard = state.Wildcard || (firstRequest && request.ResourceNamesSubscribe.Count == 0);
        foreach (var name in request.ResourceNamesSubscribe)
        {
            if (name == "*")
            {
                wildcard = true;
            }
            else
            {
                state.Names.Add(name);
            }
        }

        foreach (var name in request.ResourceNamesUnsubscribe)
        {
            if (name == "*")
            {
                wildcard = false;
            }
            else
            {
                state.Names.Remove(name);
                state.ReportedAbsent.Remove(name);
            }
        }

        state.SetWildcard(wildcard);
        if (!wildcard)
        {
            foreach (var name in state.Acked.Keys.Where(n => !state.Names.Contains(n)).ToArray())
            {
                state.Acked.Remove(name);
            }
        }

        if (firstRequest)
        {
            // Reconnecting: Envoy says which versions it holds, so only differences are sent.
            foreach (var (name, version) in request.InitialResourceVersions)
            {
                if (state.InScope(name))
                {
                    state.Acked[name] = new AckedResource(version, null);
                }
            }
        }
    }

    protected override bool NeedsPush(AdsTypeState state, XdsSnapshot snapshot)
    {
        var set = snapshot.GetResources(state.TypeUrl);
        if (state.IsNacked(set.Version))
        {
            return false;
        }

        var (changed, removed, _) = Diff(state, set, deferClusterRemovals: false);
        return changed.Count > 0 || removed.Count > 0;
    }

    protected override (DeltaDiscoveryResponse Response, PendingResponse Pending)? BuildResponse(
        AdsTypeState state, XdsSnapshot snapshot, bool deferClusterRemovals, string nonce)
    {
        var set = snapshot.GetResources(state.TypeUrl);
        if (state.IsNacked(set.Version))
        {
            return null;
        }

        var (changed, removed, deferred) = Diff(state, set, deferClusterRemovals);
        if (changed.Count == 0 && removed.Count == 0)
        {
            if (deferred == 0)
            {
                // Envoy already holds exactly this version (e.g. only unsubscribed resources changed).
                state.AckedVersion = set.Version;
            }

            return null;
        }

        var response = new DeltaDiscoveryResponse { SystemVersionInfo = set.Version, TypeUrl = state.TypeUrl, Nonce = nonce };
        foreach (var resource in changed)
        {
            response.Resources.Add(new Resource { Name = resource.Name, Version = resource.Version, Resource_ = resource.Packed });
        }

        response.RemovedResources.Add(removed);
        var pending = new PendingResponse(nonce, set.Version, set.Version, state.SubscriptionKey, Services.Time.GetTimestamp(),
            changed, removed, ReplacesAll: false);
        return (response, pending);
    }

    private (List<XdsResource> Changed, List<string> Removed, int Deferred) Diff(AdsTypeState state, XdsResourceSet set, bool deferClusterRemovals)
    {
        var changed = new List<XdsResource>();
        foreach (var resource in state.Select(set))
        {
            if (!state.Acked.TryGetValue(resource.Name, out var acked) || acked.Version != resource.Version)
            {
                changed.Add(resource);
            }
        }

        var removed = new List<string>();
        var deferred = 0;
        foreach (var name in state.Acked.Keys)
        {
            if (!set.Contains(name))
            {
                if (deferClusterRemovals || (state.TypeUrl == XdsTypeUrls.ClusterLoadAssignment && IsClusterHeld(name)))
                {
                    deferred++;
                }
                else
                {
                    removed.Add(name);
                }
            }
        }

        if (!state.Wildcard)
        {
            foreach (var name in state.Names)
            {
                if (!set.Contains(name) && !state.Acked.ContainsKey(name) && !state.ReportedAbsent.Contains(name))
                {
                    // Tell Envoy the resource does not exist rather than leave it waiting for initial_fetch_timeout.
                    removed.Add(name);
                }
            }
        }

        if (deferred > 0 && changed.Count + removed.Count > 0)
        {
            XdsServerLog.ClusterRemovalDeferred(Services.Logger, deferred, NodeId);
        }

        return (changed, removed, deferred);
    }
}
