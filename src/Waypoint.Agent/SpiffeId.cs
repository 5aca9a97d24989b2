namespace Waypoint.Agent;

/// <summary>SPIFFE IDs as istiod issues them (pkg/spiffe).</summary>
public static class SpiffeId
{
    public const string Scheme = "spiffe://";

    /// <summary><c>spiffe://&lt;trustDomain&gt;/ns/&lt;namespace&gt;/sa/&lt;serviceAccount&gt;</c>.</summary>
    public static string ForServiceAccount(string trustDomain, string @namespace, string serviceAccount) =>
        $"{Scheme}{trustDomain}/ns/{@namespace}/sa/{serviceAccount}";

    /// <summary>The prefix that admits every identity of a trust domain. The trailing slash keeps <c>spiffe://td.evil/</c> out.</summary>
    public static string TrustDomainPrefix(string trustDomain) => $"{Scheme}{trustDomain}/";

    public static bool IsValidTrustDomain(string? trustDomain) =>
        !string.IsNullOrEmpty(trustDomain) && trustDomain.Length <= 255 &&
        trustDomain.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '.' or '-' or '_');
}
