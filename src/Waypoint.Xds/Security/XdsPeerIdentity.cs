namespace Waypoint.Xds.Security;

/// <summary>
/// The verified identity of an xDS client: the SPIFFE ID of the client certificate it presented, which chained to the
/// mesh root (<c>spiffe://&lt;trust-domain&gt;/ns/&lt;namespace&gt;/sa/&lt;service-account&gt;</c>).
/// </summary>
public sealed record XdsPeerIdentity(string TrustDomain, string Namespace, string ServiceAccount)
{
    public string SpiffeId => Waypoint.Agent.SpiffeId.ForServiceAccount(TrustDomain, Namespace, ServiceAccount);

    /// <summary>Parses istiod's workload form only; anything else (paths, queries, empty segments) is not an identity.</summary>
    public static XdsPeerIdentity? TryParse(string uri)
    {
        ArgumentNullException.ThrowIfNull(uri);
        const string scheme = Waypoint.Agent.SpiffeId.Scheme;
        if (!uri.StartsWith(scheme, StringComparison.Ordinal))
        {
            return null;
        }

        var parts = uri[scheme.Length..].Split('/');
        if (parts.Length != 5 || parts[1] != "ns" || parts[3] != "sa" || !Waypoint.Agent.SpiffeId.IsValidTrustDomain(parts[0]) ||
            parts[2].Length == 0 || parts[4].Length == 0 || parts.Any(p => p.Any(c => c is '?' or '#' or '%' || char.IsWhiteSpace(c))))
        {
            return null;
        }

        return new XdsPeerIdentity(parts[0], parts[2], parts[4]);
    }

    public override string ToString() => SpiffeId;
}
