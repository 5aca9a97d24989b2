using System.Text.RegularExpressions;
using Envoy.Config.Rbac.V3;
using Envoy.Type.Matcher.V3;

namespace Waypoint.Translator.Authorization;

/// <summary>
/// RBAC matchers over the JWT payload that jwt_authn writes to dynamic metadata
/// (<c>envoy.filters.http.jwt_authn</c> → <see cref="PayloadKey"/>) once a RequestAuthentication's issuer validated it.
/// </summary>
internal static partial class JwtClaims
{
    public const string FilterName = "envoy.filters.http.jwt_authn";
    public const string PayloadKey = "payload";

    /// <summary>
    /// <c>request.auth.principal</c> / <c>requestPrincipals</c>: <c>iss/sub</c>. The issuer may itself contain <c>/</c>
    /// (https URLs), so an exact value matches when any split at a <c>/</c> gives that issuer and subject; a prefix or
    /// suffix value likewise (either the one side alone, or an exact other side at a split).
    /// </summary>
    public static Principal RequestPrincipal(string value)
    {
        if (value == "*")
        {
            return Metadata(["iss"], new ValueMatcher { PresentMatch = true });
        }

        var alternatives = new List<Principal>();
        if (value.EndsWith('*'))
        {
            var prefix = value[..^1];
            alternatives.Add(prefix.Length == 0 ? Metadata(["iss"], s_present) : Metadata(["iss"], String(new StringMatcher { Prefix = prefix })));
            foreach (var i in Slashes(prefix))
            {
                alternatives.Add(Both(Exact(prefix[..i]), i + 1 == prefix.Length ? s_present : String(new StringMatcher { Prefix = prefix[(i + 1)..] })));
            }
        }
        else if (value.StartsWith('*'))
        {
            var suffix = value[1..];
            alternatives.Add(suffix.Length == 0 ? Metadata(["sub"], s_present) : Metadata(["sub"], String(new StringMatcher { Suffix = suffix })));
            foreach (var i in Slashes(suffix))
            {
                alternatives.Add(Both(i == 0 ? s_present : String(new StringMatcher { Suffix = suffix[..i] }), Exact(suffix[(i + 1)..])));
            }
        }
        else
        {
            foreach (var i in Slashes(value))
            {
                alternatives.Add(Both(Exact(value[..i]), Exact(value[(i + 1)..])));
            }
        }

        return alternatives.Count switch
        {
            0 => new Principal { NotId = new Principal { Any = true } }, // no issuer/subject split: matches nothing
            1 => alternatives[0],
            _ => new Principal { OrIds = new Principal.Types.Set { Ids = { alternatives } } },
        };
    }

    /// <summary>A claim (a path into the payload) equal to the value, or (a list claim such as <c>aud</c> or <c>groups</c>) containing it.</summary>
    public static Principal Claim(IReadOnlyList<string> path, string value)
    {
        var match = AuthorizationPolicyCompiler.Match(value, ignoreCase: false);
        return new Principal
        {
            OrIds = new Principal.Types.Set
            {
                Ids =
                {
                    Metadata(path, String(match)),
                    Metadata(path, new ValueMatcher { ListMatch = new ListMatcher { OneOf = String(match) } }),
                },
            },
        };
    }

    /// <summary>
    /// The payload path a <c>request.auth.*</c> key reads: empty for <c>principal</c>, <c>aud</c> for
    /// <c>audiences</c>, <c>azp</c> for <c>presenter</c>, the claim names of <c>claims[a][b]...</c>; null for other keys.
    /// </summary>
    public static IReadOnlyList<string>? PathOf(string key)
    {
        switch (key)
        {
            case "request.auth.principal": return [];
            case "request.auth.audiences": return ["aud"];
            case "request.auth.presenter": return ["azp"];
        }

        if (!key.StartsWith("request.auth.claims", StringComparison.Ordinal))
        {
            return null;
        }

        var rest = key["request.auth.claims".Length..];
        var names = ClaimSegment().Matches(rest);
        if (names.Count == 0 || string.Concat(names.Select(m => m.Value)) != rest)
        {
            return null;
        }

        return names.Select(m => m.Groups[1].Value).ToArray();
    }

    private static IEnumerable<int> Slashes(string value)
    {
        for (var i = value.IndexOf('/', StringComparison.Ordinal); i >= 0; i = value.IndexOf('/', i + 1))
        {
            yield return i;
        }
    }

    private static readonly ValueMatcher s_present = new() { PresentMatch = true };

    private static Principal Both(ValueMatcher issuer, ValueMatcher subject) => new()
    {
        AndIds = new Principal.Types.Set { Ids = { Metadata(["iss"], issuer), Metadata(["sub"], subject) } },
    };

    private static ValueMatcher Exact(string value) => String(new StringMatcher { Exact = value });

    private static ValueMatcher String(StringMatcher match) => new() { StringMatch = match };

    private static Principal Metadata(IReadOnlyList<string> path, ValueMatcher value)
    {
        var matcher = new MetadataMatcher { Filter = FilterName, Value = value };
        matcher.Path.Add(new MetadataMatcher.Types.PathSegment { Key = PayloadKey });
        foreach (var segment in path)
        {
            matcher.Path.Add(new MetadataMatcher.Types.PathSegment { Key = segment });
        }

        return new Principal { Metadata = matcher };
    }

    [GeneratedRegex(@"\[([^\[\]]+)\]")]
    private static partial Regex ClaimSegment();
}
