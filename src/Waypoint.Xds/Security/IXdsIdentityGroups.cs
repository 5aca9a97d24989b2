namespace Waypoint.Xds.Security;

/// <summary>
/// Which node groups an authenticated identity may read. The control plane provides it (the controller knows which
/// waypoint runs under which ServiceAccount); the xDS server refuses every other group.
/// </summary>
public interface IXdsIdentityGroups
{
    /// <summary>The node groups <paramref name="identity"/> may read now; empty when none (the stream is refused).</summary>
    IReadOnlyCollection<string> GroupsOf(XdsPeerIdentity identity);
}

/// <summary>The default when no control plane registered one: no identity may read anything.</summary>
internal sealed class NoXdsIdentityGroups : IXdsIdentityGroups
{
    public IReadOnlyCollection<string> GroupsOf(XdsPeerIdentity identity) => [];
}
