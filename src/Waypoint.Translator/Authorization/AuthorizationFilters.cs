using Envoy.Config.Listener.V3;
using Envoy.Config.Route.V3;
using Envoy.Extensions.Filters.Network.HttpConnectionManager.V3;
using Envoy.Extensions.Filters.Http.JwtAuthn.V3;
using Google.Protobuf.WellKnownTypes;
using HttpRbac = Envoy.Extensions.Filters.Http.Rbac.V3.RBAC;
using HttpRbacPerRoute = Envoy.Extensions.Filters.Http.Rbac.V3.RBACPerRoute;
using NetworkRbac = Envoy.Extensions.Filters.Network.Rbac.V3.RBAC;
using Rbac = Envoy.Config.Rbac.V3.RBAC;
using Permission = Envoy.Config.Rbac.V3.Permission;
using Policy = Envoy.Config.Rbac.V3.Policy;
using Principal = Envoy.Config.Rbac.V3.Principal;

namespace Waypoint.Translator.Authorization;

/// <summary>
/// Where compiled AuthorizationPolicies go in Envoy: three RBAC filters (AUDIT, then DENY, then ALLOW) in each HTTP
/// chain's HCM, each off by default and given its policies per virtual host (and per route, for HTTPRoute targets)
/// through <c>typed_per_filter_config</c>; the same three as network RBAC filters in front of each TCP chain's tcp_proxy.
/// </summary>
/// <remarks>
/// Why per virtual host: a chain's RouteConfiguration has one virtual host, so a service's policies appear once in it,
/// however many routes it has (50 policies cost 50 policies, not 50 × routes), and a policy edit changes only the
/// RouteConfiguration (RDS) — never the listener, whose in-place update would drain the chain and reset HBONE tunnels.
/// Only a route an HTTPRoute-targeted policy applies to carries its own copy (service policies plus the route's:
/// Envoy uses the most specific per-filter config, it does not merge). TCP chains have no RDS; their filters carry the
/// policies inline. CUSTOM policies select, through a shadow RBAC filter per provider, the requests that provider's
/// ext_authz filter checks (it is enabled by the metadata the shadow match writes). Istio's order is kept: CUSTOM, then
/// DENY, then ALLOW, and with any ALLOW policy in scope a request that matches none is denied. DENY and ALLOW decide in
/// one engine, the DENY filter's, where every ALLOW rule can be written as a principal (<see cref="Enforcing"/>); the
/// ALLOW filter is used only where one cannot.
/// </remarks>
internal static class AuthorizationFilters
{
    public const string AuditFilter = "waypoint.authz.audit";
    public const string DenyFilter = "waypoint.authz.deny";
    public const string AllowFilter = "waypoint.authz.allow";

    private static readonly HttpFilter[] s_httpFilters = new[] { AuditFilter, DenyFilter, AllowFilter }
        .Select(name => new HttpFilter { Name = name, TypedConfig = Internal.Envoy.Pack(new HttpRbac()) })
        .ToArray();

    /// <summary>
    /// The HCM filters, to go first in the chain: jwt_authn with the service's RequestAuthentication providers (a token
    /// is optional, but one that is present must validate), then the RBAC filters (off until a virtual host or route
    /// enables them).
    /// </summary>
    /// <remarks>
    /// Every HTTP chain has the RBAC filters, with or without policies. Policies then only ever change RDS: if the first
    /// policy of a service inserted the filters, its chain would change, and Envoy would serve the requests of connections
    /// already open on the draining old chain, which has no RBAC filter, unchecked until they close (seen on the box:
    /// one request per open connection). The cost of the three filters without a policy is measured in
    /// docs/authorization.md ("0 policies on the path").
    /// </remarks>
    public static IReadOnlyList<HttpFilter> HttpFilters(ServiceAuthorization authorization)
    {
        if (authorization.IsEmpty)
        {
            return s_httpFilters;
        }

        var providers = new SortedDictionary<string, JwtProvider>(StringComparer.Ordinal);
        foreach (var authentication in authorization.Jwt)
        {
            foreach (var (name, provider) in authentication.Providers)
            {
                providers[name] = provider;
            }
        }

        // CUSTOM first (Istio's order CUSTOM, DENY, ALLOW): per provider, the shadow RBAC filter that selects requests,
        // then the ext_authz filter those selected requests enable. After jwt_authn, so CUSTOM rules can match claims.
        var extAuthz = new List<HttpFilter>();
        foreach (var provider in authorization.ExtAuthzProviders())
        {
            extAuthz.AddRange(provider.Filters(authorization.ExtAuthzClusters[provider.Name]));
        }

        if (providers.Count == 0)
        {
            return extAuthz.Count == 0 ? s_httpFilters : [.. extAuthz, .. s_httpFilters];
        }

        var requirement = new JwtRequirementOrList();
        requirement.Requirements.AddRange(providers.Keys.Select(p => new JwtRequirement { ProviderName = p }));
        requirement.Requirements.Add(new JwtRequirement { AllowMissing = new Empty() });
        var jwt = new JwtAuthentication
        {
            Rules = { new RequirementRule { Match = new RouteMatch { Prefix = "/" }, Requires = new JwtRequirement { RequiresAny = requirement } } },
        };
        foreach (var (name, provider) in providers)
        {
            jwt.Providers[name] = provider;
        }

        return [new HttpFilter { Name = JwtClaims.FilterName, TypedConfig = Internal.Envoy.Pack(jwt) }, .. extAuthz, .. s_httpFilters];
    }

    /// <summary>Sets the per-filter configs of <paramref name="routes"/>: the service's policies on its virtual host, route policies on their routes.</summary>
    /// <param name="routes">The RouteConfiguration of one HTTP chain.</param>
    /// <param name="authorization">The policies on the service.</param>
    /// <param name="port">The service port of that chain: every request it serves has this destination port.</param>
    public static void Apply(RouteConfiguration routes, ServiceAuthorization authorization, int port)
    {
        foreach (var virtualHost in routes.VirtualHosts)
        {
            AddConfigs(virtualHost.TypedPerFilterConfig, authorization.Service, port);
            if (authorization.Routes.Count == 0)
            {
                continue;
            }

            foreach (var route in virtualHost.Routes)
            {
                if (RouteOf(route.Name) is { } source && authorization.Routes.TryGetValue(source, out var routePolicies))
                {
                    AddConfigs(route.TypedPerFilterConfig, authorization.Service.Concat(routePolicies).ToList(), port);
                }
            }
        }
    }

    /// <summary>Network RBAC filters for a TCP chain (only the service's policies: HTTPRoutes do not apply to TCP).</summary>
    /// <param name="policies">The service's policies.</param>
    /// <param name="port">The chain's service port: every connection it serves has this destination port.</param>
    public static IEnumerable<Filter> NetworkFilters(IReadOnlyList<CompiledAuthorizationPolicy> policies, int port) =>
        FilterRules(policies, port, http: false).Select(f => new Filter
        {
            Name = f.Filter,
            TypedConfig = Internal.Envoy.Pack(new NetworkRbac { Rules = f.Rules, StatPrefix = f.Filter + "." }),
        });

    private static void AddConfigs(Google.Protobuf.Collections.MapField<string, Any> configs, IReadOnlyList<CompiledAuthorizationPolicy> policies, int port)
    {
        foreach (var group in policies.Where(p => p.ExtAuthz is not null && p.Http.Count > 0).GroupBy(p => p.ExtAuthz!.Name, StringComparer.Ordinal))
        {
            // Shadow rules never deny: a match only records its policy id, which enables the provider's ext_authz filter.
            var provider = group.First().ExtAuthz!;
            var shadow = new Rbac { Action = Rbac.Types.Action.Deny };
            foreach (var policy in group)
            {
                foreach (var (id, compiled) in policy.Http)
                {
                    shadow.Policies[id] = compiled;
                }
            }

            configs[provider.ShadowFilterName] = Internal.Envoy.Pack(new HttpRbacPerRoute { Rbac = new HttpRbac { ShadowRules = shadow, ShadowRulesStatPrefix = provider.StatPrefix } });
        }

        foreach (var (filter, rules) in FilterRules(policies, port, http: true))
        {
            configs[filter] = Internal.Envoy.Pack(new HttpRbacPerRoute { Rbac = new HttpRbac { Rules = rules } });
        }
    }

    /// <summary>The rules of each RBAC filter that has any (AUDIT, DENY, ALLOW, in that order), DENY and ALLOW as <see cref="Enforcing"/> decides them.</summary>
    private static IEnumerable<(string Filter, Rbac Rules)> FilterRules(IReadOnlyList<CompiledAuthorizationPolicy> policies, int port, bool http)
    {
        if (Rules(policies, AuthorizationAction.Audit, Rbac.Types.Action.Log, http) is { } audit)
        {
            yield return (AuditFilter, audit);
        }

        var (deny, allow) = Enforcing(policies, port, http);
        if (deny is not null)
        {
            yield return (DenyFilter, deny);
        }

        if (allow is not null)
        {
            yield return (AllowFilter, allow);
        }
    }

    /// <summary>
    /// The DENY and ALLOW decision over <paramref name="policies"/>, in one engine where possible: a DENY-action RBAC
    /// holding the DENY policies and, when any ALLOW policy applies, <see cref="NoAllowMatchedPolicy"/>, which matches
    /// the requests no ALLOW policy matches. The ALLOW RBAC is returned only when that cannot be expressed (then the two
    /// filters decide as before: DENY, then ALLOW).
    /// </summary>
    /// <remarks>
    /// Why: each RBAC filter that has an engine costs a request its own evaluation and dynamic-metadata write (about 4 %
    /// CPU each, docs/authorization.md), so DENY + ALLOW in two filters cost twice that. An Envoy policy is "any principal
    /// and any permission"; "no ALLOW policy matches" is <c>not (A1 or A2 …)</c>, which needs each ALLOW policy as a
    /// single principal. Every permission we emit has a principal equivalent (header, url_path, metadata and the
    /// and/or/not sets are the same matchers) except the destination: <c>destination_port</c> is a constant on a chain
    /// (its filter-chain match is the port), so it becomes <c>any</c> or <c>not any</c>; <c>destination_ip</c> and
    /// <c>requested_server_name</c> have no principal form, and an ALLOW rule using them keeps the two-filter form.
    /// </remarks>
    private static (Rbac? Deny, Rbac? Allow) Enforcing(IReadOnlyList<CompiledAuthorizationPolicy> policies, int port, bool http)
    {
        var deny = Rules(policies, AuthorizationAction.Deny, Rbac.Types.Action.Deny, http);
        var allow = Rules(policies, AuthorizationAction.Allow, Rbac.Types.Action.Allow, http);
        if (http)
        {
            foreach (var engine in new[] { deny, allow })
            {
                if (engine is not null)
                {
                    PathGuard.GroupPolicies(engine, p => AsPrincipal(p, port));
                }
            }
        }

        if (allow is null)
        {
            return (deny, allow);
        }

        var admitted = new List<Principal>(allow.Policies.Count);
        foreach (var policy in allow.Policies.Values)
        {
            if (AsPrincipal(policy, port) is not { } principal)
            {
                return (deny, allow);
            }

            admitted.Add(principal);
        }

        // An ALLOW with no policies (e.g. spec: {}) admits nothing: "no ALLOW matched" is then every request.
        var none = admitted.Count switch
        {
            0 => new Principal { Any = true },
            1 => new Principal { NotId = admitted[0] },
            _ => new Principal { NotId = new Principal { OrIds = new Principal.Types.Set { Ids = { admitted } } } },
        };
        deny ??= new Rbac { Action = Rbac.Types.Action.Deny };
        deny.Policies[NoAllowMatchedPolicy] = new Policy { Principals = { none }, Permissions = { new Permission { Any = true } } };
        return (deny, null);
    }

    /// <summary>The policy id, in the DENY engine, of "no ALLOW policy matches".</summary>
    public const string NoAllowMatchedPolicy = "no-allow-policy-matched";

    /// <summary>One Envoy policy as one principal (its principals and its permissions), or null if a permission has no principal form.</summary>
    private static Principal? AsPrincipal(Policy policy, int port)
    {
        if (policy.Condition is not null || policy.CheckedCondition is not null || policy.Principals.Count == 0 || policy.Permissions.Count == 0)
        {
            return null;
        }

        var permissions = new List<Principal>(policy.Permissions.Count);
        foreach (var permission in policy.Permissions)
        {
            if (AsPrincipal(permission, port) is not { } converted)
            {
                return null;
            }

            permissions.Add(converted);
        }

        // The cheaper side first, the permissions on a tie (as Envoy evaluates a policy): they mostly read the request's
        // headers in place, while a principal on the peer's filter state copies it out for every comparison, so a request
        // that fails the operation skips that.
        return And(Or(permissions), Or(policy.Principals));

        static Principal Or(IReadOnlyList<Principal> ids) => ids.Count == 1 ? ids[0] : new Principal { OrIds = new Principal.Types.Set { Ids = { ids } } };

        static Principal And(Principal permissions, Principal principals) =>
            permissions.IdentifierCase == Principal.IdentifierOneofCase.Any ? principals
            : principals.IdentifierCase == Principal.IdentifierOneofCase.Any ? permissions
            : new Principal { AndIds = new Principal.Types.Set { Ids = { MatchCost.CheapestFirst([permissions, principals]) } } };
    }

    private static Principal? AsPrincipal(Permission permission, int port)
    {
        switch (permission.RuleCase)
        {
            case Permission.RuleOneofCase.Any:
                return new Principal { Any = true };
            case Permission.RuleOneofCase.Header:
                return new Principal { Header = permission.Header };
            case Permission.RuleOneofCase.UrlPath:
                return new Principal { UrlPath = permission.UrlPath };
            case Permission.RuleOneofCase.Metadata:
                return new Principal { Metadata = permission.Metadata };
            case Permission.RuleOneofCase.DestinationPort:
                return permission.DestinationPort == port ? new Principal { Any = true } : new Principal { NotId = new Principal { Any = true } };
            case Permission.RuleOneofCase.NotRule:
                return AsPrincipal(permission.NotRule, port) is { } inner ? new Principal { NotId = inner } : null;
            case Permission.RuleOneofCase.AndRules or Permission.RuleOneofCase.OrRules:
                var set = permission.RuleCase == Permission.RuleOneofCase.AndRules ? permission.AndRules : permission.OrRules;
                var ids = new Principal.Types.Set();
                foreach (var rule in set.Rules)
                {
                    if (AsPrincipal(rule, port) is not { } id)
                    {
                        return null;
                    }

                    ids.Ids.Add(id);
                }

                return permission.RuleCase == Permission.RuleOneofCase.AndRules ? new Principal { AndIds = ids } : new Principal { OrIds = ids };
            default:
                return null; // destination_ip, requested_server_name, port ranges, custom matchers: no principal equivalent
        }
    }

    /// <summary>The RBAC of one action over <paramref name="policies"/>; null when no policy has that action (filter stays off).</summary>
    private static Rbac? Rules(IReadOnlyList<CompiledAuthorizationPolicy> policies, AuthorizationAction action, Rbac.Types.Action envoyAction, bool http)
    {
        Rbac? rules = null;
        foreach (var policy in policies)
        {
            // CUSTOM on a TCP chain: ext_authz cannot be asked about a connection here, so its rules deny (fail closed).
            if (policy.Action != action && !(!http && action == AuthorizationAction.Deny && policy.Action == AuthorizationAction.Custom))
            {
                continue;
            }

            rules ??= new Rbac { Action = envoyAction };
            foreach (var (id, compiled) in http ? policy.Http : policy.Tcp)
            {
                rules.Policies[id] = compiled;
            }
        }

        return rules;
    }

    /// <summary>
    /// The HTTPRoute an Envoy route was built from: RouteBuilder names routes <c>ns.name.rule.match</c>; a namespace has
    /// no dots and the last two parts are numbers, so the name in between is unambiguous.
    /// </summary>
    internal static (string Ns, string Name)? RouteOf(string routeName)
    {
        var first = routeName.IndexOf('.', StringComparison.Ordinal);
        var last = routeName.LastIndexOf('.');
        if (first < 0 || last <= first)
        {
            return null;
        }

        var second = routeName.LastIndexOf('.', last - 1);
        if (second <= first
            || !int.TryParse(routeName.AsSpan(second + 1, last - second - 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out _)
            || !int.TryParse(routeName.AsSpan(last + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out _))
        {
            return null;
        }

        return (routeName[..first], routeName[(first + 1)..second]);
    }
}
