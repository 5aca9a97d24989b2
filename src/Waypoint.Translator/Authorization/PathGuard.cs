using Envoy.Config.Rbac.V3;
using Envoy.Type.Matcher.V3;

namespace Waypoint.Translator.Authorization;

/// <summary>
/// Puts one URL-path prefix test in front of policies that can only match under that prefix, so a request off it skips
/// them all with one comparison. Envoy walks an engine's policies one by one on every request; a request that none
/// applies to pays a failing test for each, and that walk was what 50 policies cost (docs/authorization.md). Istio's
/// rules mostly name paths, and rules on the same part of an API share a prefix.
/// </summary>
/// <remarks>
/// A guard is a necessary condition: a policy joins a group only if everything it matches has a URL path
/// starting with the group's prefix (its exact or prefix path matchers, case-sensitive, all of them under the prefix; an
/// and-set needs one such member, an or-set needs it of every member). So guarding changes no decision: off the prefix
/// every member of the group is false, on it the members are evaluated as before (matchers have no side effects, so
/// where in the engine's order they are evaluated does not matter). A prefix shorter than two characters (<c>/</c>)
/// would guard nothing and is not used; neither is a group of one.
/// </remarks>
internal static class PathGuard
{
    private const int MinimumPrefix = 2;

    /// <summary>
    /// The policies of an engine (the first match decides: denies in a DENY engine, allows in an ALLOW one), those that
    /// share a path prefix merged into one policy behind it, named <c>deny-under-path[prefix]</c> (or <c>allow-…</c>);
    /// the others keep their ids.
    /// </summary>
    /// <remarks>
    /// Envoy's engine has no way to skip some of its policies, so a group becomes one policy. What is lost is only which
    /// member matched: the id Envoy logs and writes as the engine's effective policy, which nothing here reads. A policy
    /// with a condition, or whose permissions have no principal form (<paramref name="asPrincipal"/> gives null), stays
    /// on its own.
    /// </remarks>
    public static void GroupPolicies(RBAC engine, Func<Policy, Principal?> asPrincipal)
    {
        var candidates = new List<(string Id, Principal Principal)>();
        foreach (var (id, policy) in engine.Policies)
        {
            if (asPrincipal(policy) is { } principal)
            {
                candidates.Add((id, principal));
            }
        }

        foreach (var group in Groups(candidates.Select(c => c.Principal).ToList()))
        {
            if (group.Prefix is null)
            {
                continue;
            }

            foreach (var member in group.Members)
            {
                engine.Policies.Remove(candidates.First(c => ReferenceEquals(c.Principal, member)).Id);
            }

            var action = engine.Action == RBAC.Types.Action.Allow ? "allow" : "deny";
            engine.Policies[$"{action}-under-path[{group.Prefix}]"] = new Policy
            {
                Permissions = { new Permission { UrlPath = PrefixPath(group.Prefix) } },
                Principals = { Or(group.Members) },
            };
        }
    }

    /// <summary>A literal prefix that every URL path <paramref name="principal"/> matches starts with, or null.</summary>
    internal static string? RequiredPrefix(Principal principal) => principal.IdentifierCase switch
    {
        Principal.IdentifierOneofCase.UrlPath => Literal(principal.UrlPath.Path),
        Principal.IdentifierOneofCase.AndIds => Longest(principal.AndIds.Ids.Select(RequiredPrefix)),
        Principal.IdentifierOneofCase.OrIds => Common(principal.OrIds.Ids.Select(RequiredPrefix)),
        _ => null,
    };

    private static string? Literal(StringMatcher path) =>
        path.IgnoreCase ? null : path.MatchPatternCase switch
        {
            StringMatcher.MatchPatternOneofCase.Exact => path.Exact,
            StringMatcher.MatchPatternOneofCase.Prefix => path.Prefix,
            _ => null,
        };

    /// <summary>An and-set matches only where each member does: the most telling member's prefix.</summary>
    private static string? Longest(IEnumerable<string?> prefixes) =>
        prefixes.Where(p => p is not null).MaxBy(p => p!.Length);

    /// <summary>An or-set matches where any member does: the prefix they all share, if every member has one.</summary>
    private static string? Common(IEnumerable<string?> prefixes)
    {
        string? common = null;
        foreach (var prefix in prefixes)
        {
            if (prefix is null)
            {
                return null;
            }

            common = common is null ? prefix : common[..SharedLength(common, prefix)];
        }

        return common;
    }

    private static int SharedLength(string a, string b)
    {
        var n = 0;
        while (n < a.Length && n < b.Length && a[n] == b[n])
        {
            n++;
        }

        return n;
    }

    /// <summary>
    /// <paramref name="items"/> in groups: the items whose prefixes, in sorted order, share at least
    /// <see cref="MinimumPrefix"/> characters form one group under that shared prefix (at the place of its first member);
    /// every other item is a group of its own without a prefix.
    /// </summary>
    private static List<(string? Prefix, List<Principal> Members)> Groups(List<Principal> items)
    {
        var prefixes = items.Select(RequiredPrefix).ToArray();
        var sorted = Enumerable.Range(0, items.Count)
            .Where(i => prefixes[i] is { Length: >= MinimumPrefix })
            .OrderBy(i => prefixes[i], StringComparer.Ordinal)
            .ToList();
        var groupOf = new int[items.Count];
        Array.Fill(groupOf, -1);
        var shared = new List<string>();
        for (var start = 0; start < sorted.Count;)
        {
            var end = start + 1;
            var common = prefixes[sorted[start]]!;
            while (end < sorted.Count && SharedLength(common, prefixes[sorted[end]]!) >= MinimumPrefix)
            {
                common = common[..SharedLength(common, prefixes[sorted[end]]!)];
                end++;
            }

            if (end - start > 1)
            {
                for (var k = start; k < end; k++)
                {
                    groupOf[sorted[k]] = shared.Count;
                }

                shared.Add(common);
            }

            start = end;
        }

        var groups = new List<(string? Prefix, List<Principal> Members)>();
        var placed = new Dictionary<int, List<Principal>>();
        for (var i = 0; i < items.Count; i++)
        {
            if (groupOf[i] < 0)
            {
                groups.Add((null, [items[i]]));
            }
            else if (placed.TryGetValue(groupOf[i], out var members))
            {
                members.Add(items[i]);
            }
            else
            {
                members = [items[i]];
                placed[groupOf[i]] = members;
                groups.Add((shared[groupOf[i]], members));
            }
        }

        return groups;
    }

    private static Principal Or(List<Principal> members) =>
        members.Count == 1 ? members[0] : new Principal { OrIds = new Principal.Types.Set { Ids = { members } } };

    private static PathMatcher PrefixPath(string prefix) => new() { Path = new StringMatcher { Prefix = prefix } };
}
