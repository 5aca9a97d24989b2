using Envoy.Config.Rbac.V3;
using Envoy.Type.Matcher.V3;
using RouteHeaderMatcher = Envoy.Config.Route.V3.HeaderMatcher;

namespace Waypoint.Translator.Authorization;

/// <summary>
/// A rough, relative cost of one RBAC matcher for Envoy to evaluate on a request, so that an and-set can test its
/// cheapest conditions first: Envoy evaluates an and-set in order and stops at the first condition that fails, so on the
/// many requests a policy does not apply to, only the conditions before the failing one are paid for.
/// </summary>
/// <remarks>
/// Only the order of an and-set changes, never what it matches (its conditions have no side effects). The ranks follow
/// what Envoy does for each: a destination port or an address range compares numbers the connection already holds; the
/// URL path reads an O(1) header (<c>:path</c>) and cuts off the query; a pseudo-header (<c>:method</c>,
/// <c>:authority</c>…) is an O(1) header after a lookup by name, another header a scan of the header list; the peer
/// principal (filter state) is a hash lookup whose string is copied out for every comparison; dynamic metadata (JWT
/// claims) walks a struct. A regular expression costs more than any of those. A set costs the sum of its members (what
/// it costs when every member is evaluated), a negation what it negates.
/// </remarks>
internal static class MatchCost
{
    private const int Regex = 8;

    public static int Of(Permission permission) => permission.RuleCase switch
    {
        Permission.RuleOneofCase.Any => 0,
        Permission.RuleOneofCase.DestinationPort or Permission.RuleOneofCase.DestinationPortRange => 1,
        Permission.RuleOneofCase.DestinationIp => 1,
        Permission.RuleOneofCase.UrlPath => 2 + Of(permission.UrlPath.Path),
        Permission.RuleOneofCase.RequestedServerName => 2 + Of(permission.RequestedServerName),
        Permission.RuleOneofCase.Header => Of(permission.Header),
        Permission.RuleOneofCase.Metadata => 6,
        Permission.RuleOneofCase.NotRule => Of(permission.NotRule),
        Permission.RuleOneofCase.AndRules => permission.AndRules.Rules.Sum(Of),
        Permission.RuleOneofCase.OrRules => permission.OrRules.Rules.Sum(Of),
        _ => 10,
    };

    public static int Of(Principal principal) => principal.IdentifierCase switch
    {
        Principal.IdentifierOneofCase.Any => 0,
        Principal.IdentifierOneofCase.DirectRemoteIp or Principal.IdentifierOneofCase.RemoteIp or Principal.IdentifierOneofCase.SourceIp => 1,
        Principal.IdentifierOneofCase.UrlPath => 2 + Of(principal.UrlPath.Path),
        Principal.IdentifierOneofCase.Header => Of(principal.Header),
        Principal.IdentifierOneofCase.FilterState => 6 + (principal.FilterState.StringMatch is { } match ? Of(match) : 0),
        Principal.IdentifierOneofCase.Metadata => 6,
        Principal.IdentifierOneofCase.NotId => Of(principal.NotId),
        Principal.IdentifierOneofCase.AndIds => principal.AndIds.Ids.Sum(Of),
        Principal.IdentifierOneofCase.OrIds => principal.OrIds.Ids.Sum(Of),
        _ => 10,
    };

    /// <summary><paramref name="rules"/> cheapest first; equal costs keep their order (a stable sort).</summary>
    public static List<Permission> CheapestFirst(IEnumerable<Permission> rules) => [.. rules.OrderBy(Of)];

    /// <summary><paramref name="ids"/> cheapest first; equal costs keep their order (a stable sort).</summary>
    public static List<Principal> CheapestFirst(IEnumerable<Principal> ids) => [.. ids.OrderBy(Of)];

    private static int Of(RouteHeaderMatcher header)
    {
        var lookup = header.Name.StartsWith(':') ? 3 : 4;
        return lookup + header.HeaderMatchSpecifierCase switch
        {
            RouteHeaderMatcher.HeaderMatchSpecifierOneofCase.StringMatch => Of(header.StringMatch),
            RouteHeaderMatcher.HeaderMatchSpecifierOneofCase.SafeRegexMatch => Regex,
            _ => 0,
        };
    }

    private static int Of(StringMatcher match) =>
        match.MatchPatternCase == StringMatcher.MatchPatternOneofCase.SafeRegex ? Regex : 0;
}
