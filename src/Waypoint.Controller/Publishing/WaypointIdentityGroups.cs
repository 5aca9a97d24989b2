using Microsoft.Extensions.Options;
using Waypoint.Controller.Reconciliation;
using Waypoint.Xds;
using Waypoint.Xds.Security;

namespace Waypoint.Controller.Publishing;

/// <summary>
/// Which waypoint an xDS client may read: the controller runs each waypoint Gateway <c>g</c> of namespace <c>ns</c>
/// under ServiceAccount <c>ns/g</c> (<see cref="WaypointWorkload"/>), so identity
/// <c>spiffe://&lt;td&gt;/ns/ns/sa/g</c> may read node group <c>g.ns</c>, and only while the controller publishes it.
/// Other trust domains, and groups not published (unknown, removed, not ours), get nothing.
/// </summary>
public sealed class WaypointIdentityGroups(XdsSnapshotCache cache, IOptions<WaypointControllerOptions> options) : IXdsIdentityGroups
{
    private readonly XdsSnapshotCache _cache = cache ?? throw new ArgumentNullException(nameof(cache));
    private readonly WaypointControllerOptions _options = (options ?? throw new ArgumentNullException(nameof(options))).Value;

    public IReadOnlyCollection<string> GroupsOf(XdsPeerIdentity identity)
    {
        ArgumentNullException.ThrowIfNull(identity);
        if (!string.Equals(identity.TrustDomain, _options.TrustDomain, StringComparison.Ordinal))
        {
            return [];
        }

        var group = EnvoyBootstrap.NodeCluster(identity.ServiceAccount, identity.Namespace);
        return _cache.TryGetSnapshot(group, out _) ? [group] : [];
    }
}
