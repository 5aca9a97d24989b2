namespace Waypoint.Xds.Internal;

/// <summary>What Envoy holds of one resource: its version and, when we sent it on this stream, the resource.</summary>
internal readonly record struct AckedResource(string Version, XdsResource? Resource);

/// <summary>A response sent and not yet answered. One per type at a time, so every ACK/NACK is unambiguous.</summary>
internal sealed record PendingResponse(
    string Nonce,
    string Version,
    string SnapshotVersion,
    string SubscriptionKey,
    long Timestamp,
    IReadOnlyList<XdsResource> Resources,
    IReadOnlyList<string> Removed,
    bool ReplacesAll);

/// <summary>The per-type state of one ADS stream. Touched only by that stream's loop.</summary>
internal sealed class AdsTypeState(string typeUrl)
{
    public string TypeUrl { get; } = typeUrl;

    /// <summary>Envoy has sent at least one request for this type on this stream.</summary>
    public bool Subscribed { get; set; }

    public bool Wildcard { get; private set; }

    /// <summary>State of the world: wildcard because the first request named nothing (and it keeps naming nothing).</summary>
    public bool LegacyWildcard { get; set; }

    public HashSet<string> Names { get; } = new(StringComparer.Ordinal);

    /// <summary>Identifies the subscription (wildcard flag and names) so a change forces a response.</summary>
    public string SubscriptionKey { get; private set; } = string.Empty;

    /// <summary>What Envoy has accepted: name → version.</summary>
    public Dictionary<string, AckedResource> Acked { get; } = new(StringComparer.Ordinal);

    /// <summary>Delta: explicitly subscribed names Envoy was told do not exist.</summary>
    public HashSet<string> ReportedAbsent { get; } = new(StringComparer.Ordinal);

    public string? AckedVersion { get; set; }

    public string? AckedSubscriptionKey { get; set; }

    /// <summary>The snapshot version Envoy rejected; not re-sent until the snapshot or the subscription changes.</summary>
    public string? NackedSnapshotVersion { get; set; }

    public string? NackedSubscriptionKey { get; set; }

    /// <summary>The version string of the rejected response (may differ from the snapshot version while removals wait).</summary>
    public string? NackedVersion { get; set; }

    public PendingResponse? Pending { get; set; }

    /// <summary>The nonce of the latest response of this type; requests carrying an older one are stale.</summary>
    public string? LastNonce { get; set; }

    public long Pushes { get; set; }

    public void SetWildcard(bool wildcard)
    {
        Wildcard = wildcard;
        RefreshKey();
    }

    public void RefreshKey() =>
        SubscriptionKey = (Wildcard ? "*|" : "|") + string.Join(',', Names.Order(StringComparer.Ordinal));

    public bool InScope(string name) => Wildcard || Names.Contains(name);

    public bool IsNacked(string snapshotVersion) =>
        NackedSnapshotVersion == snapshotVersion && NackedSubscriptionKey == SubscriptionKey;

    /// <summary>Resources of <paramref name="set"/> this subscription asks for, in snapshot order.</summary>
    public IReadOnlyList<XdsResource> Select(XdsResourceSet set)
    {
        if (Wildcard)
        {
            return set.Resources;
        }

        if (Names.Count * 4 < set.Count)
        {
            var picked = new List<XdsResource>(Names.Count);
            foreach (var name in Names.Order(StringComparer.Ordinal))
            {
                if (set.TryGet(name, out var resource))
                {
                    picked.Add(resource);
                }
            }

            return picked;
        }

        return set.Resources.Where(r => Names.Contains(r.Name)).ToList();
    }

    public void Commit(PendingResponse pending)
    {
        if (pending.ReplacesAll)
        {
            Acked.Clear();
        }

        foreach (var resource in pending.Resources)
        {
            Acked[resource.Name] = new AckedResource(resource.Version, resource);
            ReportedAbsent.Remove(resource.Name);
        }

        foreach (var name in pending.Removed)
        {
            Acked.Remove(name);
            if (Names.Contains(name))
            {
                ReportedAbsent.Add(name);
            }
        }

        AckedVersion = pending.Version;
        AckedSubscriptionKey = pending.SubscriptionKey;
        NackedSnapshotVersion = null;
        NackedSubscriptionKey = null;
        NackedVersion = null;
    }
}
