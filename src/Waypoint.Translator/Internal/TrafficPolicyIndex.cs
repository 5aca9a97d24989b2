using k8s;
using Waypoint.Transformation.Compilation;
using Waypoint.Transformation.Model;
using Waypoint.Translator.Model;

namespace Waypoint.Translator.Internal;

/// <summary>
/// The TrafficPolicies of one translation, compiled (each once, reused across translations while its content is
/// unchanged) and indexed by what they target: a waypoint Gateway, an HTTPRoute, or one HTTPRoute rule.
/// </summary>
internal sealed class TrafficPolicyIndex
{
    private const string GatewayApiGroup = "gateway.networking.k8s.io";

    private readonly List<(V1alpha1TrafficPolicy Policy, TrafficPolicyCompileResult Result)> _policies = [];
    private readonly Dictionary<(string Ns, string Name), List<CompiledTrafficPolicy>> _gateways = [];
    private readonly Dictionary<(string Ns, string Name), List<CompiledTrafficPolicy>> _routes = [];
    private readonly Dictionary<(string Ns, string Name, string Rule), List<CompiledTrafficPolicy>> _rules = [];
    private readonly HashSet<PolicyConflict> _conflicts = [];

    /// <param name="snapshot">The snapshot whose policies to index.</param>
    /// <param name="previous">Compile results of the previous translation, keyed by content.</param>
    /// <param name="used">Receives the compile results this translation used (the next call's <paramref name="previous"/>).</param>
    public TrafficPolicyIndex(ClusterSnapshot snapshot, Dictionary<string, TrafficPolicyCompileResult> previous, Dictionary<string, TrafficPolicyCompileResult> used)
    {
        foreach (var policy in snapshot.TrafficPolicies)
        {
            var key = ContentKey(policy);
            if (!used.TryGetValue(key, out var result))
            {
                result = previous.TryGetValue(key, out var cached) ? cached : TrafficPolicyCompiler.Compile(policy);
                used[key] = result;
            }

            if (EnvoyRejections.Find(snapshot, "TrafficPolicy", policy) is { } rejection)
            {
                // Envoy refused what this version of the policy produced: reported Invalid and applied nowhere.
                result = new TrafficPolicyCompileResult { Errors = [EnvoyRejections.Describe(rejection)] };
            }

            _policies.Add((policy, result));
            if (result.Policy is not { } compiled)
            {
                continue; // invalid: never applied; reported in Statuses
            }

            foreach (var target in compiled.TargetRefs.Distinct())
            {
                if (target.Group != GatewayApiGroup)
                {
                    continue;
                }

                if (target.Kind == "Gateway")
                {
                    Add(_gateways, (compiled.Namespace, target.Name), compiled);
                }
                else if (target.Kind == "HTTPRoute" && string.IsNullOrEmpty(target.SectionName))
                {
                    Add(_routes, (compiled.Namespace, target.Name), compiled);
                }
                else if (target.Kind == "HTTPRoute")
                {
                    Add(_rules, (compiled.Namespace, target.Name, target.SectionName!), compiled);
                }
            }
        }
    }

    public bool IsEmpty => _policies.Count == 0;

    /// <summary>Policies that target the waypoint Gateway: defaults for every route and default route it serves.</summary>
    public IReadOnlyList<CompiledTrafficPolicy> OfGateway(WaypointKey waypoint) =>
        _gateways.TryGetValue((waypoint.Namespace, waypoint.Name), out var list) ? list : [];

    public IReadOnlyList<CompiledTrafficPolicy> OfRoute(string ns, string name) =>
        _routes.TryGetValue((ns, name), out var list) ? list : [];

    public IReadOnlyList<CompiledTrafficPolicy> OfRule(string ns, string name, string? rule) =>
        rule is not null && _rules.TryGetValue((ns, name, rule), out var list) ? list : [];

    /// <summary>Every policy (gateway, route and per-rule levels) that can affect the routes of <paramref name="route"/>.</summary>
    public IEnumerable<CompiledTrafficPolicy> Affecting(CompiledRoute route) =>
        OfRoute(route.Namespace, route.Name).Concat(route.Rules.SelectMany(r => OfRule(route.Namespace, route.Name, r.Name)));

    public void AddConflicts(IEnumerable<PolicyConflict> conflicts) => _conflicts.UnionWith(conflicts);

    /// <summary>
    /// GEP-713 status of every policy that targets something this controller manages (an accepted waypoint Gateway, or
    /// an HTTPRoute with a parent we manage), one ancestor entry per such target. Ordered by namespace/name.
    /// </summary>
    public IReadOnlyList<PolicyStatusResult> Statuses(IEnumerable<WaypointKey> waypoints, IEnumerable<RouteStatusResult> routes, string controllerName)
    {
        var gatewaySet = waypoints.Select(w => (w.Namespace, w.Name)).ToHashSet();
        var routeSet = routes.Select(r => (r.Namespace, r.Name)).ToHashSet();
        var conflicts = _conflicts
            .OrderBy(c => c.Policy, StringComparer.Ordinal)
            .ThenBy(c => c.Feature, StringComparer.Ordinal)
            .ThenBy(c => c.WinningPolicy, StringComparer.Ordinal)
            .ToList();
        var results = new List<PolicyStatusResult>();
        foreach (var (policy, result) in _policies
            .OrderBy(p => p.Policy.Metadata.NamespaceProperty, StringComparer.Ordinal)
            .ThenBy(p => p.Policy.Metadata.Name, StringComparer.Ordinal))
        {
            var ns = policy.Metadata.NamespaceProperty ?? "default";
            var ancestors = new List<PolicyAncestorStatus>();
            foreach (var target in (policy.Spec?.TargetRefs ?? []).Distinct())
            {
                var managed = target.Group == GatewayApiGroup && target.Kind switch
                {
                    "Gateway" => gatewaySet.Contains((ns, target.Name)),
                    "HTTPRoute" => routeSet.Contains((ns, target.Name)),
                    _ => false,
                };
                if (!managed)
                {
                    continue; // another controller's target, or not there (yet)
                }

                var ancestor = new PolicyAncestorReference
                {
                    Group = GatewayApiGroup,
                    Kind = target.Kind,
                    Namespace = ns,
                    Name = target.Name,
                    SectionName = string.IsNullOrEmpty(target.SectionName) ? null : target.SectionName,
                };
                // Pure translation has no clock: lastTransitionTime is the epoch; the writer stamps it (keeping the
                // previous time when status and reason are unchanged).
                ancestors.Add(TrafficPolicyStatus.ForAncestor(policy, result, ancestor, controllerName, conflicts, DateTime.UnixEpoch));
            }

            if (ancestors.Count > 0)
            {
                results.Add(new PolicyStatusResult(ns, policy.Metadata.Name, policy.Metadata.Generation, ancestors));
            }
        }

        return results;
    }

    private static void Add<TKey>(Dictionary<TKey, List<CompiledTrafficPolicy>> map, TKey key, CompiledTrafficPolicy policy)
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

    /// <summary>What compilation depends on; equal keys compile to equal results, so the cached result is reused.</summary>
    private static string ContentKey(V1alpha1TrafficPolicy policy) => KubernetesJson.Serialize(new
    {
        ns = policy.Metadata?.NamespaceProperty,
        name = policy.Metadata?.Name,
        created = policy.Metadata?.CreationTimestamp,
        spec = policy.Spec,
    });
}
