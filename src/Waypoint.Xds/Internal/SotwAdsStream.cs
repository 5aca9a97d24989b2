using Envoy.Config.Core.V3;
using Envoy.Service.Discovery.V3;
using Grpc.Core;
using Waypoint.Xds.Diagnostics;

namespace Waypoint.Xds.Internal;

/// <summary>
/// State-of-the-world ADS: every response carries the complete current set the subscription asks for, versioned by
/// the snapshot's content hash; for listeners and clusters an omitted resource is a deletion.
/// </summary>
internal sealed class SotwAdsStream(
    AdsServices services,
    IAsyncStreamReader<DiscoveryRequest> requests,
    IServerStreamWriter<DiscoveryResponse> responses,
    CancellationToken cancellationToken)
    : AdsStream<DiscoveryRequest, DiscoveryResponse>(services, requests, responses, cancellationToken)
{
    protected override XdsProtocol Protocol => XdsProtocol.StateOfTheWorld;

    protected override Node? GetNode(DiscoveryRequest request) => request.Node;

    protected override string GetTypeUrl(DiscoveryRequest request) => request.TypeUrl;

    protected override string GetResponseNonce(DiscoveryRequest request) => request.ResponseNonce;

    protected override Google.Rpc.Status? GetErrorDetail(DiscoveryRequest request) => request.ErrorDetail;

    protected override void UpdateSubscription(AdsTypeState state, DiscoveryRequest request, bool firstRequest)
    {
        var names = request.ResourceNames;
        state.Names.Clear();
        bool wildcard;
        if (names.Count == 0)
        {
            // An empty first request is the legacy wildcard; later empty requests keep it, or mean "nothing".
            state.LegacyWildcard = firstRequest || state.LegacyWildcard;
            wildcard = state.LegacyWildcard;
        }
        else
        {
            state.LegacyWildcard = false;
            wildcard = false;
            foreach (var name in names)
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
        }

        state.SetWildcard(wildcard);
        if (!wildcard)
        {
            // Envoy forgets what it no longer asks for.
            foreach (var name in state.Acked.Keys.Where(n => !state.Names.Contains(n)).ToArray())
            {
                state.Acked.Remove(name);
            }
        }

        if (firstRequest && request.VersionInfo.Length > 0
            && Services.Cache.TryGetSnapshot(NodeGroup, out var snapshot)
            && snapshot.GetVersion(state.TypeUrl) == request.VersionInfo)
        {
            // Reconnecting after a server restart: Envoy already runs this exact content, nothing to resend.
            foreach (var resource in state.Select(snapshot.GetResources(state.TypeUrl)))
            {
                state.Acked[resource.Name] = new AckedResource(resource.Version, resource);
            }

            state.AckedVersion = request.VersionInfo;
            state.AckedSubscriptionKey = state.SubscriptionKey;
        }
    }

    protected override bool NeedsPush(AdsTypeState state, XdsSnapshot snapshot)
    {
        var version = snapshot.GetVersion(state.TypeUrl);
        return !(version == state.AckedVersion && state.SubscriptionKey == state.AckedSubscriptionKey) && !state.IsNacked(version);
    }

    protected override (DiscoveryResponse Response, PendingResponse Pending)? BuildResponse(
        AdsTypeState state, XdsSnapshot snapshot, bool deferClusterRemovals, string nonce)
    {
        var set = snapshot.GetResources(state.TypeUrl);
        IReadOnlyList<XdsResource> resources = state.Select(set);
        var version = set.Version;
        if (deferClusterRemovals)
        {
            var retained = state.Acked.Values
                .Where(a => a.Resource is not null && !set.Contains(a.Resource.Name))
                .Select(a => a.Resource!)
                .ToList();
            if (retained.Count > 0)
            {
                XdsServerLog.ClusterRemovalDeferred(Services.Logger, retained.Count, NodeId);
                resources = [.. resources, .. retained];
                version = set.Version + "+keep-" + XdsResource.Hash(System.Text.Encoding.UTF8.GetBytes(
                    string.Join(',', retained.Select(r => r.Name + "=" + r.Version).Order(StringComparer.Ordinal))));
            }
        }

        if (version == state.AckedVersion && state.SubscriptionKey == state.AckedSubscriptionKey)
        {
            return null;
        }

        if (version == state.NackedVersion && state.SubscriptionKey == state.NackedSubscriptionKey)
        {
            return null;
        }

        var response = new DiscoveryResponse { VersionInfo = version, TypeUrl = state.TypeUrl, Nonce = nonce };
        foreach (var resource in resources)
        {
            response.Resources.Add(resource.Packed);
        }

        var pending = new PendingResponse(nonce, version, set.Version, state.SubscriptionKey, Services.Time.GetTimestamp(),
            resources, [], ReplacesAll: XdsTypeUrls.IsStateOfTheWorldComplete(state.TypeUrl) && state.Wildcard);
        return (response, pending);
    }
}
