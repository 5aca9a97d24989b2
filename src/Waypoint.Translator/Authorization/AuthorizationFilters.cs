using Envoy.Config.Listener.V3;
using Envoy.Config.Route.V3;
using Envoy.Extensions.Filters.Network.HttpConnectionManager.V3;
using Envoy.Extensions.Filters.Http.JwtAuthn.V3;
using Google.Protobuf.WellKnownTypes;
using HttpRbac = Envoy.Extensions.Filters.Http.Rbac.V3.RBAC;
using HttpRbacPerRoute = Envoy.Extensions.Filters.Http.Rbac.V3.RBACPerRoute;
using NetworkRbac = Envoy.Extensions.Filters.Network.Rbac.V3.RBAC;
using Rbac = Envoy.Config.Rbac.V3.RBAC;

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
/// DENY, then ALLOW, and with any ALLOW policy in scope a
/// request that matches none is denied (an ALLOW filter with no policies denies everything).
/// </remarks>
internal static class AuthorizationFilters
{
    public const string AuditFilter = "waypoint.authz.audit";
    public const string DenyFilter = "waypoint.authz.deny";
    public const string AllowFilter = "waypoint.authz.allow";

    private static readonly (string Name, AuthorizationAction Action, Rbac.Types.Action Envoy)[] s_filters =
    [
        (AuditFilter, AuthorizationAction.Audit, Rbac.Types.Action.Log),
        (DenyFilter, AuthorizationAction.Deny, Rbac.Types.Action.Deny),
        (AllowFilter, AuthorizationAction.Allow, Rbac.Types.Action.Allow),
    ];

    private static readonly HttpFilter[] s_httpFilters = s_filters
        .Select(f => new HttpFilter { Name = f.Name, TypedConfig = Internal.Envoy.Pack(new HttpRbac()) })
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
    public static void Apply(RouteConfiguration routes, ServiceAuthorization authorization)
    {
        foreach (var virtualHost in routes.VirtualHosts)
        {
            AddConfigs(virtualHost.TypedPerFilterConfig, authorization.Service);
            if (authorization.Routes.Count == 0)
            {
                continue;
            }

            foreach (var route in virtualHost.Routes)
            {
                if (RouteOf(route.Name) is { } source && authorization.Routes.TryGetValue(source, out var routePolicies))
                {
                    AddConfigs(route.TypedPerFilterConfig, authorization.Service.Concat(routePolicies).ToList());
                }
            }
        }
    }

    /// <summary>Network RBAC filters for a TCP chain (only the service's policies: HTTPRoutes do not apply to TCP).</summary>
    public static IEnumerable<Filter> NetworkFilters(IReadOnlyList<CompiledAuthorizationPolicy> policies)
    {
        foreach (var (name, action, envoyAction) in s_filters)
        {
            if (Rules(policies, action, envoyAction, http: false) is { } rules)
            {
                yield return new Filter
                {
                    Name = name,
                    TypedConfig = Internal.Envoy.Pack(new NetworkRbac { Rules = rules, StatPrefix = name + "." }),
                };
            }
        }
    }

    private static void AddConfigs(Google.Protobuf.Collections.MapField<string, Any> configs, IReadOnlyList<CompiledAuthorizationPolicy> policies)
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

        foreach (var (name, action, envoyAction) in s_filters)
        {
            if (Rules(policies, action, envoyAction, http: true) is { } rules)
            {
                configs[name] = Internal.Envoy.Pack(new HttpRbacPerRoute { Rbac = new HttpRbac { Rules = rules } });
            }
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
