using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using Envoy.Config.Core.V3;
using Envoy.Config.Rbac.V3;
using Envoy.Config.Route.V3;
using Envoy.Type.Matcher.V3;
using Waypoint.Translator.Model;

namespace Waypoint.Translator.Authorization;

/// <summary>
/// Compiles one AuthorizationPolicy into Envoy RBAC policies, once for HTTP chains and once for TCP chains, failing
/// closed: a DENY (or CUSTOM) that uses something we cannot compile becomes a deny-all, an ALLOW or AUDIT rule we cannot
/// compile matches nothing. Each such field is named in <see cref="CompiledAuthorizationPolicy.Problems"/>.
/// </summary>
/// <remarks>
/// Istio's rule semantics: a rule matches when any <c>from</c>, any <c>to</c> and every <c>when</c> match (an absent list
/// matches everything); within a field any value matches, a <c>notX</c> field matches when none does. One Envoy policy
/// per rule: principals = one and-set per <c>from</c>, permissions = one and-set per <c>to</c>, with each <c>when</c>
/// condition appended to the side Envoy evaluates it on. On TCP chains, HTTP-only fields make an ALLOW or AUDIT rule
/// match nothing and are dropped from a DENY rule (a broader deny), as Istio does.
/// </remarks>
internal static partial class AuthorizationPolicyCompiler
{
    /// <summary>The filter-state key connect_terminate shares with main_internal: the HBONE peer's URI SAN (with <c>spiffe://</c>).</summary>
    public const string PeerPrincipalKey = "io.istio.peer_principal";

    private static readonly Principal s_anyPrincipal = new() { Any = true };
    private static readonly Permission s_anyPermission = new() { Any = true };

    /// <param name="providers">The mesh config's ext_authz providers, for CUSTOM; null: none are known.</param>
    /// <param name="envoyRejection">
    /// Why Envoy rejected the configuration made from this generation of the policy (a NACK), or null. A rejected
    /// policy is left out as it was written and fails closed instead: a DENY or CUSTOM denies all its targets' requests,
    /// an ALLOW admits none, an AUDIT logs nothing.
    /// </param>
    public static CompiledAuthorizationPolicy Compile(V1AuthorizationPolicy policy, ExtAuthzProviders? providers = null, string? envoyRejection = null)
    {
        var ns = policy.Metadata?.NamespaceProperty ?? "default";
        var name = policy.Metadata?.Name ?? "";
        var spec = policy.Spec ?? new AuthorizationPolicySpec();
        var problems = new List<string>();
        var action = ParseAction(spec.Action, problems);
        var targets = IstioPolicyTargets.Of(spec.TargetRef, spec.TargetRefs);
        if (envoyRejection is not null)
        {
            return Rejected(policy, action, targets, envoyRejection);
        }

        foreach (var field in spec.Unsupported?.Keys ?? [])
        {
            problems.Add($"spec.{field}: not supported");
        }

        CompiledExtAuthzProvider? extAuthz = null;
        if (action == AuthorizationAction.Custom && string.IsNullOrEmpty(spec.Provider?.Name))
        {
            problems.Add("spec.provider.name: required for action CUSTOM");
        }
        else if (action == AuthorizationAction.Custom)
        {
            var (provider, problem, _) = providers?.Find(spec.Provider!.Name!) ?? (null, $"provider '{spec.Provider!.Name}' is unknown: there is no mesh config", "");
            if (problem is not null)
            {
                problems.Add($"spec.provider.name: {problem}");
            }
            else
            {
                problems.AddRange(provider!.Problems.Select(p => $"spec.provider.name: provider '{provider.Name}': {p}"));
                extAuthz = provider.Problems.Count == 0 ? provider : null;
            }
        }

        foreach (var field in spec.Provider?.Unsupported?.Keys ?? [])
        {
            problems.Add($"spec.provider.{field}: not supported");
        }

        // A policy-level problem (unknown action or spec field, a CUSTOM provider that cannot be asked) leaves its intent
        // unknown: deny all its targets.
        var denyAll = problems.Count > 0;
        var http = new SortedDictionary<string, Policy>(StringComparer.Ordinal);
        var tcp = new SortedDictionary<string, Policy>(StringComparer.Ordinal);
        var rules = spec.Rules ?? [];
        for (var i = 0; i < rules.Count && !denyAll; i++)
        {
            var id = $"ns[{ns}]-policy[{name}]-rule[{i.ToString(CultureInfo.InvariantCulture)}]";
            var httpId = action == AuthorizationAction.Custom ? ExtAuthzProviderCompiler.ShadowPolicyPrefix + id : id;
            var httpRule = new RuleCompiler($"spec.rules[{i}]", tcp: false, problems);
            var httpPolicy = httpRule.Compile(rules[i]);
            var tcpRule = new RuleCompiler($"spec.rules[{i}]", tcp: true, problems: null);
            var tcpPolicy = tcpRule.Compile(rules[i]);
            if (httpPolicy is null)
            {
                if (action is AuthorizationAction.Deny or AuthorizationAction.Custom)
                {
                    denyAll = true; // a CUSTOM rule we cannot select requests by must not let them skip the check
                }

                continue; // ALLOW/AUDIT: the rule matches nothing
            }

            http[httpId] = httpPolicy;
            if (tcpPolicy is not null && !(tcpRule.UsedHttpOnly && action is not (AuthorizationAction.Deny or AuthorizationAction.Custom)))
            {
                tcp[id] = tcpPolicy;
            }
        }

        if (denyAll)
        {
            http.Clear();
            tcp.Clear();
            AddDenyAll(http, tcp, ns, name);
        }

        return Compiled(policy, action, targets, http, tcp, problems, denyAll) with
        {
            ExtAuthz = denyAll ? null : extAuthz,
        };
    }

    /// <summary>A policy Envoy rejected: nothing of what it says is sent again; its targets fail closed.</summary>
    private static CompiledAuthorizationPolicy Rejected(V1AuthorizationPolicy policy, AuthorizationAction action, IReadOnlyList<IstioPolicyTargetReference> targets, string rejection)
    {
        var ns = policy.Metadata?.NamespaceProperty ?? "default";
        var name = policy.Metadata?.Name ?? "";
        var http = new SortedDictionary<string, Policy>(StringComparer.Ordinal);
        var tcp = new SortedDictionary<string, Policy>(StringComparer.Ordinal);
        var denyAll = action is AuthorizationAction.Deny or AuthorizationAction.Custom;
        if (denyAll)
        {
            AddDenyAll(http, tcp, ns, name);
        }

        return Compiled(policy, action, targets, http, tcp, [rejection], denyAll) with
        {
            EnvoyRejected = true,
        };
    }

    /// <summary>The compiled policy; one that denies all is compiled as a DENY whatever its action.</summary>
    private static CompiledAuthorizationPolicy Compiled(
        V1AuthorizationPolicy policy,
        AuthorizationAction action,
        IReadOnlyList<IstioPolicyTargetReference> targets,
        SortedDictionary<string, Policy> http,
        SortedDictionary<string, Policy> tcp,
        IReadOnlyList<string> problems,
        bool denyAll) =>
        new(
            policy.Metadata?.NamespaceProperty ?? "default",
            policy.Metadata?.Name ?? "",
            policy.Metadata?.Generation,
            denyAll ? AuthorizationAction.Deny : action,
            targets,
            policy.Spec?.Selector is not null,
            http,
            tcp,
            problems,
            denyAll);

    /// <summary>One policy matching every request and connection, under the same id in the HTTP and the TCP RBAC filter.</summary>
    private static void AddDenyAll(SortedDictionary<string, Policy> http, SortedDictionary<string, Policy> tcp, string ns, string name)
    {
        var all = new Policy { Principals = { s_anyPrincipal }, Permissions = { s_anyPermission } };
        http[$"ns[{ns}]-policy[{name}]-deny-all"] = all;
        tcp[$"ns[{ns}]-policy[{name}]-deny-all"] = all;
    }

    private static AuthorizationAction ParseAction(string? action, List<string> problems)
    {
        switch (action)
        {
            case null or "" or "ALLOW": return AuthorizationAction.Allow;
            case "DENY": return AuthorizationAction.Deny;
            case "AUDIT": return AuthorizationAction.Audit;
            case "CUSTOM": return AuthorizationAction.Custom;
            default:
                problems.Add($"spec.action: '{action}' is not ALLOW, DENY, AUDIT or CUSTOM");
                return AuthorizationAction.Deny;
        }
    }

    /// <summary>Compiles one rule; records what it cannot compile (HTTP only: the TCP pass reuses the HTTP verdict).</summary>
    private sealed class RuleCompiler(string path, bool tcp, List<string>? problems)
    {
        public bool Failed { get; private set; }

        /// <summary>The rule names an HTTP-only attribute (TCP pass): dropped from a DENY, fatal to an ALLOW or AUDIT rule.</summary>
        public bool UsedHttpOnly { get; private set; }

        public Policy? Compile(AuthorizationRule rule)
        {
            foreach (var field in rule.Unsupported?.Keys ?? [])
            {
                Fail($"{path}.{field}: not supported");
            }

            var principalConditions = new List<Principal>();
            var permissionConditions = new List<Permission>();
            var when = rule.When ?? [];
            for (var i = 0; i < when.Count; i++)
            {
                Condition(when[i], $"{path}.when[{i}]", principalConditions, permissionConditions);
            }

            var principals = new List<Principal>();
            var from = rule.From ?? [];
            for (var i = 0; i < from.Count; i++)
            {
                var ids = Source(from[i], $"{path}.from[{i}]");
                ids.AddRange(principalConditions);
                principals.Add(And(ids));
            }

            if (from.Count == 0)
            {
                principals.Add(And(principalConditions));
            }

            var permissions = new List<Permission>();
            var to = rule.To ?? [];
            for (var i = 0; i < to.Count; i++)
            {
                var rules = Operation(to[i], $"{path}.to[{i}]");
                rules.AddRange(permissionConditions);
                permissions.Add(And(rules));
            }

            if (to.Count == 0)
            {
                permissions.Add(And(permissionConditions));
            }

            return Failed ? null : new Policy { Principals = { principals }, Permissions = { permissions } };
        }

        private void Fail(string problem)
        {
            Failed = true;
            problems?.Add(problem);
        }

        private List<Principal> Source(AuthorizationFrom from, string at)
        {
            var ids = new List<Principal>();
            foreach (var field in from.Unsupported?.Keys ?? [])
            {
                Fail($"{at}.{field}: not supported");
            }

            if (from.Source is not { } source)
            {
                return ids;
            }

            at += ".source";
            foreach (var field in source.Unsupported?.Keys ?? [])
            {
                Fail($"{at}.{field}: not supported");
            }

            AddAny(ids, source.Principals, negate: false, v => PeerPrincipal(v));
            AddAny(ids, source.NotPrincipals, negate: true, v => PeerPrincipal(v));
            AddAny(ids, source.Namespaces, negate: false, v => Namespace(v));
            AddAny(ids, source.NotNamespaces, negate: true, v => Namespace(v));
            AddAny(ids, source.IpBlocks, negate: false, v => Cidr(v, $"{at}.ipBlocks") is { } c ? new Principal { DirectRemoteIp = c } : null);
            AddAny(ids, source.NotIpBlocks, negate: true, v => Cidr(v, $"{at}.notIpBlocks") is { } c ? new Principal { DirectRemoteIp = c } : null);
            AddAny(ids, source.RemoteIpBlocks, negate: false, v => Cidr(v, $"{at}.remoteIpBlocks") is { } c ? new Principal { RemoteIp = c } : null);
            AddAny(ids, source.NotRemoteIpBlocks, negate: true, v => Cidr(v, $"{at}.notRemoteIpBlocks") is { } c ? new Principal { RemoteIp = c } : null);
            if (tcp)
            {
                UsedHttpOnly |= source.RequestPrincipals is { Count: > 0 } || source.NotRequestPrincipals is { Count: > 0 };
            }
            else
            {
                AddAny(ids, source.RequestPrincipals, negate: false, v => JwtClaims.RequestPrincipal(v));
                AddAny(ids, source.NotRequestPrincipals, negate: true, v => JwtClaims.RequestPrincipal(v));
            }

            return ids;
        }

        private List<Permission> Operation(AuthorizationTo to, string at)
        {
            var rules = new List<Permission>();
            foreach (var field in to.Unsupported?.Keys ?? [])
            {
                Fail($"{at}.{field}: not supported");
            }

            if (to.Operation is not { } operation)
            {
                return rules;
            }

            at += ".operation";
            foreach (var field in operation.Unsupported?.Keys ?? [])
            {
                Fail($"{at}.{field}: not supported");
            }

            AddAny(rules, operation.Ports, negate: false, v => Port(v, $"{at}.ports"));
            AddAny(rules, operation.NotPorts, negate: true, v => Port(v, $"{at}.notPorts"));
            if (tcp)
            {
                UsedHttpOnly |= operation.Hosts is { Count: > 0 } || operation.NotHosts is { Count: > 0 }
                    || operation.Methods is { Count: > 0 } || operation.NotMethods is { Count: > 0 }
                    || operation.Paths is { Count: > 0 } || operation.NotPaths is { Count: > 0 };
                return rules;
            }

            AddAny(rules, operation.Hosts, negate: false, v => HeaderRule(":authority", v, ignoreCase: true));
            AddAny(rules, operation.NotHosts, negate: true, v => HeaderRule(":authority", v, ignoreCase: true));
            AddAny(rules, operation.Methods, negate: false, v => HeaderRule(":method", v, ignoreCase: false));
            AddAny(rules, operation.NotMethods, negate: true, v => HeaderRule(":method", v, ignoreCase: false));
            AddAny(rules, operation.Paths, negate: false, v => UrlPath(v, $"{at}.paths"));
            AddAny(rules, operation.NotPaths, negate: true, v => UrlPath(v, $"{at}.notPaths"));
            return rules;
        }

        private void Condition(AuthorizationCondition condition, string at, List<Principal> principals, List<Permission> permissions)
        {
            foreach (var field in condition.Unsupported?.Keys ?? [])
            {
                Fail($"{at}.{field}: not supported");
            }

            var key = condition.Key ?? "";
            if ((condition.Values?.Count ?? 0) == 0 && (condition.NotValues?.Count ?? 0) == 0)
            {
                Fail($"{at}: one of values or notValues is required");
                return;
            }

            if (HeaderKey().Match(key) is { Success: true } header)
            {
                if (tcp)
                {
                    UsedHttpOnly = true;
                    return;
                }

                var name = header.Groups[1].Value;
                AddAny(principals, condition.Values, negate: false, v => HeaderMatch(name, v, ignoreCase: false) is { } h ? new Principal { Header = h } : null);
                AddAny(principals, condition.NotValues, negate: true, v => HeaderMatch(name, v, ignoreCase: false) is { } h ? new Principal { Header = h } : null);
                return;
            }

            switch (key)
            {
                case "source.ip":
                    AddAny(principals, condition.Values, negate: false, v => Cidr(v, at + ".values") is { } c ? new Principal { DirectRemoteIp = c } : null);
                    AddAny(principals, condition.NotValues, negate: true, v => Cidr(v, at + ".notValues") is { } c ? new Principal { DirectRemoteIp = c } : null);
                    break;
                case "remote.ip":
                    AddAny(principals, condition.Values, negate: false, v => Cidr(v, at + ".values") is { } c ? new Principal { RemoteIp = c } : null);
                    AddAny(principals, condition.NotValues, negate: true, v => Cidr(v, at + ".notValues") is { } c ? new Principal { RemoteIp = c } : null);
                    break;
                case "source.namespace":
                    AddAny(principals, condition.Values, negate: false, v => Namespace(v));
                    AddAny(principals, condition.NotValues, negate: true, v => Namespace(v));
                    break;
                case "source.principal":
                    AddAny(principals, condition.Values, negate: false, v => PeerPrincipal(v));
                    AddAny(principals, condition.NotValues, negate: true, v => PeerPrincipal(v));
                    break;
                case "destination.ip":
                    AddAny(permissions, condition.Values, negate: false, v => Cidr(v, at + ".values") is { } c ? new Permission { DestinationIp = c } : null);
                    AddAny(permissions, condition.NotValues, negate: true, v => Cidr(v, at + ".notValues") is { } c ? new Permission { DestinationIp = c } : null);
                    break;
                case "destination.port":
                    AddAny(permissions, condition.Values, negate: false, v => Port(v, at + ".values"));
                    AddAny(permissions, condition.NotValues, negate: true, v => Port(v, at + ".notValues"));
                    break;
                case "connection.sni":
                    AddAny(permissions, condition.Values, negate: false, v => new Permission { RequestedServerName = Match(v, ignoreCase: false) });
                    AddAny(permissions, condition.NotValues, negate: true, v => new Permission { RequestedServerName = Match(v, ignoreCase: false) });
                    break;
                default:
                    if (key.StartsWith("request.", StringComparison.Ordinal) && tcp)
                    {
                        UsedHttpOnly = true;
                        return;
                    }

                    if (JwtClaims.PathOf(key) is { } claim)
                    {
                        // request.auth.*: the validated JWT's payload, written by jwt_authn (RequestAuthentication).
                        Func<string, Principal?> match = claim.Count == 0 ? JwtClaims.RequestPrincipal : v => JwtClaims.Claim(claim, v);
                        AddAny(principals, condition.Values, negate: false, match);
                        AddAny(principals, condition.NotValues, negate: true, match);
                        return;
                    }

                    Unsupported(at + ".key", $"'{key}' is not a supported condition");
                    break;
            }
        }

        private void Unsupported(string field, string why)
        {
            if (!tcp)
            {
                Fail($"{field}: {why}");
            }
            else
            {
                Failed = true;
            }
        }

        private CidrRange? Cidr(string value, string at)
        {
            var slash = value.IndexOf('/', StringComparison.Ordinal);
            var ipText = slash < 0 ? value : value[..slash];
            if (!IPAddress.TryParse(ipText, out var ip))
            {
                Unsupported(at, $"'{value}' is not an IP address or CIDR");
                return null;
            }

            var max = ip.AddressFamily == AddressFamily.InterNetworkV6 ? 128 : 32;
            var length = max;
            if (slash >= 0 && (!int.TryParse(value.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out length) || length > max))
            {
                Unsupported(at, $"'{value}' has an invalid prefix length");
                return null;
            }

            return new CidrRange { AddressPrefix = ip.ToString(), PrefixLen = (uint)length };
        }

        private Permission? Port(string value, string at)
        {
            if (!uint.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is 0 or > 65535)
            {
                Unsupported(at, $"'{value}' is not a port number");
                return null;
            }

            return new Permission { DestinationPort = port };
        }

        private Permission? UrlPath(string value, string at)
        {
            if (value.Contains('{', StringComparison.Ordinal))
            {
                Unsupported(at, $"'{value}': path templates ({{*}}, {{**}}) are not supported yet");
                return null;
            }

            return new Permission { UrlPath = new PathMatcher { Path = Match(value, ignoreCase: false) } };
        }

        private static Permission HeaderRule(string name, string value, bool ignoreCase) =>
            new() { Header = HeaderMatch(name, value, ignoreCase) };

        private static HeaderMatcher HeaderMatch(string name, string value, bool ignoreCase) =>
            value == "*"
                ? new HeaderMatcher { Name = name, PresentMatch = true }
                : new HeaderMatcher { Name = name, StringMatch = Match(value, ignoreCase) };

        private static void AddAny<T>(List<T> into, IList<string>? values, bool negate, Func<string, T?> compile)
            where T : class, Google.Protobuf.IMessage
        {
            if (values is not { Count: > 0 })
            {
                return;
            }

            var compiled = new List<T>(values.Count);
            foreach (var value in values)
            {
                if (compile(value) is { } item)
                {
                    compiled.Add(item);
                }
            }

            if (compiled.Count != values.Count)
            {
                return; // the failure is recorded; the rule is dropped (or its DENY becomes deny-all)
            }

            into.Add(Or(compiled, negate));
        }
    }

    private static T Or<T>(List<T> items, bool negate)
        where T : class, Google.Protobuf.IMessage
    {
        object result = items switch
        {
            List<Principal> p => p.Count == 1 ? p[0] : new Principal { OrIds = new Principal.Types.Set { Ids = { p } } },
            List<Permission> p => p.Count == 1 ? p[0] : new Permission { OrRules = new Permission.Types.Set { Rules = { p } } },
            _ => throw new ArgumentException("Principal or Permission expected.", nameof(items)),
        };
        if (negate)
        {
            result = result is Principal principal ? new Principal { NotId = principal } : new Permission { NotRule = (Permission)result };
        }

        return (T)result;
    }

    // An and-set stops at its first failing condition: the cheapest go first (MatchCost), so a request a rule does not
    // apply to is usually turned away by its path or method before the peer principal is copied out or a header scanned.
    private static Principal And(List<Principal> ids) => ids.Count switch
    {
        0 => s_anyPrincipal,
        1 => ids[0],
        _ => new Principal { AndIds = new Principal.Types.Set { Ids = { MatchCost.CheapestFirst(ids) } } },
    };

    private static Permission And(List<Permission> rules) => rules.Count switch
    {
        0 => s_anyPermission,
        1 => rules[0],
        _ => new Permission { AndRules = new Permission.Types.Set { Rules = { MatchCost.CheapestFirst(rules) } } },
    };

    /// <summary>Istio's value forms: <c>*</c> (present), <c>prefix*</c>, <c>*suffix</c>, else exact.</summary>
    internal static StringMatcher Match(string value, bool ignoreCase)
    {
        if (value == "*")
        {
            return new StringMatcher { SafeRegex = new RegexMatcher { Regex = ".+" } };
        }

        if (value.EndsWith('*'))
        {
            return new StringMatcher { Prefix = value[..^1], IgnoreCase = ignoreCase };
        }

        if (value.StartsWith('*'))
        {
            return new StringMatcher { Suffix = value[1..], IgnoreCase = ignoreCase };
        }

        return new StringMatcher { Exact = value, IgnoreCase = ignoreCase };
    }

    /// <summary>A principal <c>td/ns/x/sa/y</c> against the HBONE peer's URI SAN <c>spiffe://td/ns/x/sa/y</c>.</summary>
    internal static Principal PeerPrincipal(string value)
    {
        StringMatcher match;
        if (value == "*")
        {
            match = new StringMatcher { Prefix = "spiffe://" };
        }
        else if (value.EndsWith('*'))
        {
            match = new StringMatcher { Prefix = "spiffe://" + value[..^1] };
        }
        else if (value.StartsWith('*'))
        {
            match = new StringMatcher { Suffix = value[1..] };
        }
        else
        {
            match = new StringMatcher { Exact = "spiffe://" + value };
        }

        return new Principal { FilterState = new FilterStateMatcher { Key = PeerPrincipalKey, StringMatch = match } };
    }

    /// <summary>A source namespace: the <c>/ns/&lt;namespace&gt;/</c> segment of the peer's SPIFFE ID.</summary>
    internal static Principal Namespace(string value)
    {
        var pattern = value switch
        {
            "*" => "[^/]+",
            _ when value.EndsWith('*') => Regex.Escape(value[..^1]) + "[^/]*",
            _ when value.StartsWith('*') => "[^/]*" + Regex.Escape(value[1..]),
            _ => Regex.Escape(value),
        };
        return new Principal
        {
            FilterState = new FilterStateMatcher
            {
                Key = PeerPrincipalKey,
                StringMatch = new StringMatcher { SafeRegex = new RegexMatcher { Regex = $"spiffe://[^/]+/ns/{pattern}/.*" } },
            },
        };
    }

    [GeneratedRegex(@"^request\.headers\[([^\[\]]+)\]$")]
    private static partial Regex HeaderKey();
}

internal enum AuthorizationAction
{
    Allow,
    Deny,
    Audit,
    Custom,
}

/// <summary>One policy, compiled.</summary>
/// <param name="Http">Envoy policies by id for HTTP chains.</param>
/// <param name="Tcp">Envoy policies by id for TCP chains (network RBAC).</param>
/// <param name="HasSelector">The policy has a <c>selector</c> (ztunnel's or a sidecar's, unless it also has targets).</param>
/// <param name="Problems">What could not be compiled, each naming the field; empty when the policy compiled whole.</param>
/// <param name="DenyAll">The policy was turned into a deny-all for its targets.</param>
internal sealed record CompiledAuthorizationPolicy(
    string Namespace,
    string Name,
    long? Generation,
    AuthorizationAction Action,
    IReadOnlyList<IstioPolicyTargetReference> Targets,
    bool HasSelector,
    SortedDictionary<string, Policy> Http,
    SortedDictionary<string, Policy> Tcp,
    IReadOnlyList<string> Problems,
    bool DenyAll)
{
    /// <summary>
    /// CUSTOM: the provider that checks the requests <see cref="Http"/> selects (shadow rules, ids prefixed
    /// <see cref="ExtAuthzProviderCompiler.ShadowPolicyPrefix"/>). On TCP chains, which cannot ask it, <see cref="Tcp"/> is enforced as a DENY.
    /// </summary>
    public CompiledExtAuthzProvider? ExtAuthz { get; init; }

    /// <summary>Envoy rejected this generation (<see cref="Problems"/> holds its message); the policy fails closed.</summary>
    public bool EnvoyRejected { get; init; }
}
