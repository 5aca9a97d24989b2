using k8s;
using k8s.Models;
using Waypoint.Transformation.Model;
using Waypoint.Translator.Internal;
using Waypoint.Translator.Model;

namespace Waypoint.Translator.Authorization;

/// <summary>
/// The AuthorizationPolicies of one translation that a waypoint enforces, compiled (each once, reused across
/// translations while its content is unchanged) and indexed by target: a waypoint Gateway, a GatewayClass (policies in
/// the Istio root namespace), a Service or ServiceEntry, or an HTTPRoute.
/// </summary>
/// <remarks>
/// Policies with only a <c>selector</c>, or with neither selector nor targets, are ztunnel's or a sidecar's and are
/// not indexed. An HTTPRoute target applies to the requests that route matches, on every service it is attached to.
/// </remarks>
internal sealed class AuthorizationIndex
{
    private const string GatewayApiGroup = "gateway.networking.k8s.io";

    private readonly List<CompiledAuthorizationPolicy> _policies = [];
    private readonly Dictionary<(string Ns, string Name), List<CompiledAuthorizationPolicy>> _gateways = [];
    private readonly Dictionary<string, List<CompiledAuthorizationPolicy>> _classes = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Kind, string Ns, string Name), List<CompiledAuthorizationPolicy>> _services = [];
    private readonly Dictionary<(string Ns, string Name), List<CompiledAuthorizationPolicy>> _routes = [];
    private readonly List<CompiledRequestAuthentication> _authentications = [];
    private readonly Dictionary<(string Ns, string Name), List<CompiledRequestAuthentication>> _gatewayJwt = [];
    private readonly Dictionary<string, List<CompiledRequestAuthentication>> _classJwt = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Kind, string Ns, string Name), List<CompiledRequestAuthentication>> _serviceJwt = [];
    private readonly Dictionary<CompiledRequestAuthentication, HashSet<WaypointKey>> _jwtEnforcedBy = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<CompiledRequestAuthentication, List<string>> _jwtTargetProblems = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<CompiledAuthorizationPolicy, HashSet<WaypointKey>> _enforcedBy = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<CompiledAuthorizationPolicy, List<string>> _targetProblems = new(ReferenceEqualityComparer.Instance);
    private readonly IReadOnlyList<(CompiledExtAuthzProvider Provider, string Key)> _meshExtAuthz;
    private readonly Lock _gate = new();

    /// <param name="snapshot">The snapshot whose policies to index.</param>
    /// <param name="rootNamespace">Istio's root namespace: only its policies may target a GatewayClass.</param>
    /// <param name="previous">Compile results of the previous translation, keyed by content.</param>
    /// <param name="used">Receives the compile results this translation used (the next call's <paramref name="previous"/>).</param>
    /// <param name="options">Translator settings (JWKS fetching).</param>
    /// <param name="previousJwt">As <paramref name="previous"/>, for RequestAuthentications.</param>
    /// <param name="usedJwt">As <paramref name="used"/>, for RequestAuthentications.</param>
    public AuthorizationIndex(
        ClusterSnapshot snapshot,
        TranslatorOptions options,
        Dictionary<string, CompiledAuthorizationPolicy> previous,
        Dictionary<string, CompiledAuthorizationPolicy> used,
        Dictionary<string, CompiledRequestAuthentication> previousJwt,
        Dictionary<string, CompiledRequestAuthentication> usedJwt)
    {
        var rootNamespace = options.IstioRootNamespace;
        foreach (var authentication in snapshot.RequestAuthentications)
        {
            var jwtRejection = EnvoyRejections.Find(snapshot, WellKnown.RequestAuthenticationKind, authentication) is { } rejected ? EnvoyRejections.Describe(rejected) : null;
            var key = KubernetesJson.Serialize(new { ns = authentication.Metadata?.NamespaceProperty, name = authentication.Metadata?.Name, generation = authentication.Metadata?.Generation, spec = authentication.Spec, rejection = jwtRejection });
            if (!usedJwt.TryGetValue(key, out var compiled))
            {
                compiled = previousJwt.TryGetValue(key, out var cached) ? cached : RequestAuthenticationCompiler.Compile(authentication, options, jwtRejection);
                usedJwt[key] = compiled;
            }

            if (compiled.Targets.Count == 0)
            {
                continue; // selector-only or mesh-wide: ztunnel's or a sidecar's
            }

            _authentications.Add(compiled);
            foreach (var target in compiled.Targets.Distinct())
            {
                var group = target.Group ?? "";
                if (!string.IsNullOrEmpty(target.Namespace) && target.Namespace != compiled.Namespace)
                {
                    JwtTargetProblem(compiled, $"spec.targetRefs: {target.Kind} {target.Namespace}/{target.Name}: a target must be in the resource's namespace");
                    continue;
                }

                switch (group, target.Kind)
                {
                    case (GatewayApiGroup, WellKnown.GatewayKind):
                        Add(_gatewayJwt, (compiled.Namespace, target.Name), compiled);
                        break;
                    case (GatewayApiGroup, "GatewayClass") when compiled.Namespace == rootNamespace:
                        Add(_classJwt, target.Name, compiled);
                        break;
                    case ("" or "core", WellKnown.ServiceKind):
                        Add(_serviceJwt, (WellKnown.ServiceKind, compiled.Namespace, target.Name), compiled);
                        break;
                    case (WellKnown.IstioNetworkingGroup, WellKnown.ServiceEntryKind):
                        Add(_serviceJwt, (WellKnown.ServiceEntryKind, compiled.Namespace, target.Name), compiled);
                        break;
                    default:
                        JwtTargetProblem(compiled, $"spec.targetRefs: {group}/{target.Kind} is not a kind a waypoint validates JWTs for");
                        break;
                }
            }
        }

        var providers = new ExtAuthzProviders(ExtAuthzProviders.MeshOf(snapshot, options), options);
        _meshExtAuthz = providers.Usable();
        foreach (var policy in snapshot.AuthorizationPolicies)
        {
            var rejection = EnvoyRejections.Find(snapshot, WellKnown.AuthorizationPolicyKind, policy) is { } rejected ? EnvoyRejections.Describe(rejected) : null;
            var key = ContentKey(policy, providers, rejection);
            if (!used.TryGetValue(key, out var compiled))
            {
                compiled = previous.TryGetValue(key, out var cached) ? cached : AuthorizationPolicyCompiler.Compile(policy, providers, rejection);
                used[key] = compiled;
            }

            if (compiled.Targets.Count == 0)
            {
                continue; // selector-only or mesh-wide: ztunnel's or a sidecar's, not the waypoint's
            }

            _policies.Add(compiled);
            foreach (var target in compiled.Targets.Distinct())
            {
                if (!string.IsNullOrEmpty(target.Namespace) && target.Namespace != compiled.Namespace)
                {
                    TargetProblem(compiled, $"spec.targetRefs: {target.Kind} {target.Namespace}/{target.Name}: a target must be in the policy's namespace");
                    continue;
                }

                var group = target.Group ?? "";
                switch (group, target.Kind)
                {
                    case (GatewayApiGroup, WellKnown.GatewayKind):
                        Add(_gateways, (compiled.Namespace, target.Name), compiled);
                        break;
                    case (GatewayApiGroup, "GatewayClass") when compiled.Namespace == rootNamespace:
                        Add(_classes, target.Name, compiled);
                        break;
                    case (GatewayApiGroup, "GatewayClass"):
                        TargetProblem(compiled, $"spec.targetRefs: GatewayClass {target.Name}: only policies in the root namespace '{rootNamespace}' may target a GatewayClass");
                        break;
                    case (GatewayApiGroup, WellKnown.HttpRouteKind):
                        Add(_routes, (compiled.Namespace, target.Name), compiled);
                        break;
                    case ("" or "core", WellKnown.ServiceKind):
                        Add(_services, (WellKnown.ServiceKind, compiled.Namespace, target.Name), compiled);
                        break;
                    case (WellKnown.IstioNetworkingGroup, WellKnown.ServiceEntryKind):
                        Add(_services, (WellKnown.ServiceEntryKind, compiled.Namespace, target.Name), compiled);
                        break;
                    default:
                        TargetProblem(compiled, $"spec.targetRefs: {group}/{target.Kind} is not a kind a waypoint enforces");
                        break;
                }
            }
        }
    }

    public bool IsEmpty => _policies.Count == 0 && _authentications.Count == 0 && _meshExtAuthz.Count == 0;

    /// <summary>
    /// The policies on <paramref name="service"/>'s chains in <paramref name="waypoint"/> (its class's, its Gateway's, the
    /// service's own) and, per attached HTTPRoute that has any, that route's. Records that the waypoint enforces them.
    /// </summary>
    public ServiceAuthorization For(WaypointGateway waypoint, ServiceModel service, IEnumerable<CompiledRoute> routes)
    {
        var scope = new List<CompiledAuthorizationPolicy>();
        if (_classes.TryGetValue(waypoint.Gateway.Spec?.GatewayClassName ?? "", out var ofClass))
        {
            scope.AddRange(ofClass);
        }

        if (_gateways.TryGetValue((waypoint.Key.Namespace, waypoint.Key.Name), out var ofGateway))
        {
            scope.AddRange(ofGateway);
        }

        if (_services.TryGetValue((service.Kind, service.Namespace, service.Name), out var ofService))
        {
            scope.AddRange(ofService);
        }

        Dictionary<(string Ns, string Name), IReadOnlyList<CompiledAuthorizationPolicy>>? perRoute = null;
        foreach (var route in routes)
        {
            if (_routes.TryGetValue((route.Namespace, route.Name), out var ofRoute))
            {
                (perRoute ??= [])[(route.Namespace, route.Name)] = ofRoute;
            }
        }

        var jwt = new List<CompiledRequestAuthentication>();
        if (_classJwt.TryGetValue(waypoint.Gateway.Spec?.GatewayClassName ?? "", out var classJwt))
        {
            jwt.AddRange(classJwt);
        }

        if (_gatewayJwt.TryGetValue((waypoint.Key.Namespace, waypoint.Key.Name), out var gatewayJwt))
        {
            jwt.AddRange(gatewayJwt);
        }

        if (_serviceJwt.TryGetValue((service.Kind, service.Namespace, service.Name), out var serviceJwt))
        {
            jwt.AddRange(serviceJwt);
        }

        var result = new ServiceAuthorization(Distinct(scope), perRoute ?? []) { Jwt = jwt.Distinct().ToList(), MeshExtAuthz = _meshExtAuthz };
        lock (_gate)
        {
            foreach (var authentication in result.Jwt)
            {
                if (!_jwtEnforcedBy.TryGetValue(authentication, out var jwtWaypoints))
                {
                    _jwtEnforcedBy[authentication] = jwtWaypoints = [];
                }

                jwtWaypoints.Add(waypoint.Key);
            }

            foreach (var policy in result.All())
            {
                if (!_enforcedBy.TryGetValue(policy, out var waypoints))
                {
                    _enforcedBy[policy] = waypoints = [];
                }

                waypoints.Add(waypoint.Key);
            }
        }

        return result;
    }

    /// <summary>
    /// One ancestor entry per waypoint that enforces the policy (its Gateway), under our controller name, with a
    /// <c>WaypointAccepted</c> condition: True, or False naming each field that could not be compiled and what was done
    /// instead. Policies no waypoint of ours enforces get no entry. Ordered by namespace/name.
    /// </summary>
    public IReadOnlyList<AuthorizationPolicyStatusResult> Statuses(IReadOnlyCollection<WaypointKey> translated, string controllerName)
    {
        var results = new List<AuthorizationPolicyStatusResult>();
        foreach (var policy in _policies.OrderBy(p => p.Namespace, StringComparer.Ordinal).ThenBy(p => p.Name, StringComparer.Ordinal))
        {
            if (!_enforcedBy.TryGetValue(policy, out var waypoints))
            {
                continue;
            }

            var problems = policy.Problems.Concat(_targetProblems.GetValueOrDefault(policy) ?? []).ToList();
            var condition = problems.Count == 0
                ? Conditions.True(AuthorizationConditions.WaypointAccepted, PolicyConditions.ReasonAccepted, "Enforced by this waypoint.", policy.Generation)
                : Conditions.False(AuthorizationConditions.WaypointAccepted, PolicyConditions.ReasonInvalid, Describe(policy, problems), policy.Generation);
            condition.LastTransitionTime = DateTime.UnixEpoch;
            var ancestors = waypoints
                .Where(translated.Contains)
                .Order()
                .Select(w => new PolicyAncestorStatus
                {
                    AncestorRef = new PolicyAncestorReference { Group = GatewayApiGroup, Kind = WellKnown.GatewayKind, Namespace = w.Namespace, Name = w.Name },
                    ControllerName = controllerName,
                    Conditions = [condition],
                })
                .ToList();
            if (ancestors.Count > 0)
            {
                results.Add(new AuthorizationPolicyStatusResult(policy.Namespace, policy.Name, policy.Generation, ancestors));
            }
        }

        return results;
    }

    /// <summary>As <see cref="Statuses"/>, for RequestAuthentications (the waypoints that validate their JWTs).</summary>
    public IReadOnlyList<AuthorizationPolicyStatusResult> AuthenticationStatuses(IReadOnlyCollection<WaypointKey> translated, string controllerName)
    {
        var results = new List<AuthorizationPolicyStatusResult>();
        foreach (var authentication in _authentications.OrderBy(p => p.Namespace, StringComparer.Ordinal).ThenBy(p => p.Name, StringComparer.Ordinal))
        {
            if (!_jwtEnforcedBy.TryGetValue(authentication, out var waypoints))
            {
                continue;
            }

            var problems = authentication.Problems.Concat(_jwtTargetProblems.GetValueOrDefault(authentication) ?? []).ToList();
            var condition = problems.Count == 0
                ? Conditions.True(AuthorizationConditions.WaypointAccepted, PolicyConditions.ReasonAccepted, "JWTs validated by this waypoint.", authentication.Generation)
                : Conditions.False(AuthorizationConditions.WaypointAccepted, PolicyConditions.ReasonInvalid, authentication.EnvoyRejected
                    ? $"{string.Join("; ", problems)}. All its rules are left out: no token of their issuers validates on this waypoint."
                    : $"{string.Join("; ", problems)}. The rules named are left out: tokens of their issuers are rejected.", authentication.Generation);
            condition.LastTransitionTime = DateTime.UnixEpoch;
            var ancestors = waypoints.Where(translated.Contains).Order().Select(w => new PolicyAncestorStatus
            {
                AncestorRef = new PolicyAncestorReference { Group = GatewayApiGroup, Kind = WellKnown.GatewayKind, Namespace = w.Namespace, Name = w.Name },
                ControllerName = controllerName,
                Conditions = [condition],
            }).ToList();
            if (ancestors.Count > 0)
            {
                results.Add(new AuthorizationPolicyStatusResult(authentication.Namespace, authentication.Name, authentication.Generation, ancestors));
            }
        }

        return results;
    }

    private void JwtTargetProblem(CompiledRequestAuthentication authentication, string problem)
    {
        if (!_jwtTargetProblems.TryGetValue(authentication, out var list))
        {
            _jwtTargetProblems[authentication] = list = [];
        }

        list.Add(problem);
    }

    private static string Describe(CompiledAuthorizationPolicy policy, List<string> problems)
    {
        var effect = policy.EnvoyRejected
            ? policy.DenyAll
                ? "the policy is enforced as deny-all on its targets"
                : policy.Action == AuthorizationAction.Allow ? "the policy admits no request (its rules are not sent)" : "the policy is not enforced"
            : policy.DenyAll
            ? "the policy is enforced as deny-all on its targets"
            : policy.Action is AuthorizationAction.Allow or AuthorizationAction.Audit && policy.Problems.Count > 0
                ? "the rules named match nothing; the others are enforced"
                : "the targets named are ignored; the others are enforced";
        var message = $"{string.Join("; ", problems)}. Fail-closed: {effect}.";
        return message.Length <= 4096 ? message : message[..4093] + "...";
    }

    private void TargetProblem(CompiledAuthorizationPolicy policy, string problem)
    {
        if (!_targetProblems.TryGetValue(policy, out var list))
        {
            _targetProblems[policy] = list = [];
        }

        list.Add(problem);
    }

    private static List<CompiledAuthorizationPolicy> Distinct(List<CompiledAuthorizationPolicy> policies)
    {
        var seen = new HashSet<CompiledAuthorizationPolicy>(ReferenceEqualityComparer.Instance);
        return policies.Where(seen.Add).ToList();
    }

    private static void Add<TKey, TValue>(Dictionary<TKey, List<TValue>> map, TKey key, TValue policy)
        where TKey : notnull
    {
        if (!map.TryGetValue(key, out var list))
        {
            map[key] = list = [];
        }

        if (!list.Contains(policy))
        {
            list.Add(policy);
        }
    }

    /// <summary>
    /// What compilation depends on; equal keys compile to equal results, so the cached result is reused. A CUSTOM
    /// policy also depends on its provider's definition in the mesh config.
    /// </summary>
    private static string ContentKey(V1AuthorizationPolicy policy, ExtAuthzProviders providers, string? rejection) => KubernetesJson.Serialize(new
    {
        rejection,
        ns = policy.Metadata?.NamespaceProperty,
        name = policy.Metadata?.Name,
        generation = policy.Metadata?.Generation,
        spec = policy.Spec,
        provider = policy.Spec?.Action == "CUSTOM" && policy.Spec.Provider?.Name is { Length: > 0 } provider ? providers.Find(provider).Key : null,
    });
}

/// <summary>The AuthorizationPolicies on one service's chains.</summary>
/// <param name="Service">Policies on every request and connection to the service (class, Gateway and Service targets).</param>
/// <param name="Routes">Per attached HTTPRoute, the policies that target it (they add to <paramref name="Service"/> for its requests).</param>
internal sealed record ServiceAuthorization(
    IReadOnlyList<CompiledAuthorizationPolicy> Service,
    IReadOnlyDictionary<(string Ns, string Name), IReadOnlyList<CompiledAuthorizationPolicy>> Routes)
{
    public static ServiceAuthorization None { get; } = new([], new Dictionary<(string Ns, string Name), IReadOnlyList<CompiledAuthorizationPolicy>>());

    /// <summary>RequestAuthentications on the service (class, Gateway and Service targets): jwt_authn providers on its HTTP chains.</summary>
    public IReadOnlyList<CompiledRequestAuthentication> Jwt { get; init; } = [];

    /// <summary>The cluster of each CUSTOM provider on the service (by provider name), resolved for the waypoint.</summary>
    public IReadOnlyDictionary<string, string> ExtAuthzClusters { get; init; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>
    /// Every provider of the mesh config a CUSTOM policy could ask, with its content key: the service's HTTP chains carry
    /// their filters whether or not a CUSTOM policy applies (off until one does), so a first CUSTOM policy changes only
    /// RDS. A change of the mesh config's providers changes the chains.
    /// </summary>
    public IReadOnlyList<(CompiledExtAuthzProvider Provider, string Key)> MeshExtAuthz { get; init; } = [];

    public bool IsEmpty => Service.Count == 0 && Routes.Count == 0 && Jwt.Count == 0 && MeshExtAuthz.Count == 0;

    public IEnumerable<CompiledAuthorizationPolicy> All() => Service.Concat(Routes.Values.SelectMany(r => r));

    /// <summary>The ext_authz providers of the service's HTTP chains, by name: the mesh config's, and any CUSTOM policy's (the same, compiled from the same content).</summary>
    public IEnumerable<CompiledExtAuthzProvider> ExtAuthzProviders() => MeshExtAuthz.Select(p => p.Provider)
        .Concat(All().Where(p => p.ExtAuthz is not null && p.Http.Count > 0).Select(p => p.ExtAuthz!))
        .DistinctBy(p => p.Name, StringComparer.Ordinal)
        .OrderBy(p => p.Name, StringComparer.Ordinal);
}

internal static class AuthorizationConditions
{
    public const string WaypointAccepted = "WaypointAccepted";
}
