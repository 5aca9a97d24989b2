using Envoy.Config.Route.V3;
using Google.Protobuf.WellKnownTypes;
using EnvoyRetryPolicy = Envoy.Config.Route.V3.RetryPolicy;

namespace Waypoint.Transformation.Compilation;

/// <summary>Where a policy attaches, from least to most specific.</summary>
public enum PolicyLevel
{
    /// <summary>targetRef to the waypoint Gateway: a default for every route it serves.</summary>
    Gateway,

    /// <summary>targetRef to an HTTPRoute without sectionName.</summary>
    Route,

    /// <summary>targetRef to an HTTPRoute with sectionName = the rule's name.</summary>
    Rule,
}

/// <summary>A policy that lost a feature to another policy at the same level (it gets Accepted=False, reason Conflicted).</summary>
public sealed record PolicyConflict(string Policy, string WinningPolicy, string Feature, PolicyLevel Level);

/// <summary>
/// The effective TrafficPolicy features of one HTTPRoute rule after precedence, and how to put them on its Envoy route.
/// </summary>
/// <remarks>
/// Precedence per feature (transformation, retry, timeouts.request, timeouts.streamIdle), most specific first:
/// rule-level policy, route-level policy, the HTTPRoute rule's own <c>retry</c>/<c>timeouts</c>, Gateway-level policy.
/// Within one level the oldest policy (creationTimestamp, then namespace/name) wins and the others are reported as
/// conflicts. A winning policy's <c>retry</c> replaces the rule's retry policy as a whole, except that the rule's
/// <c>timeouts.backendRequest</c> (per-try timeout) stays when the policy sets no <c>perTryTimeout</c>.
/// </remarks>
public sealed record RouteTrafficPolicy
{
    public static readonly RouteTrafficPolicy None = new();

    public CompiledTransformation? Transformation { get; init; }

    public string? TransformationSource { get; init; }

    public EnvoyRetryPolicy? Retry { get; init; }

    public PolicyLevel RetryLevel { get; init; }

    public string? RetrySource { get; init; }

    public Duration? RequestTimeout { get; init; }

    public PolicyLevel RequestTimeoutLevel { get; init; }

    public Duration? StreamIdleTimeout { get; init; }

    public PolicyLevel StreamIdleTimeoutLevel { get; init; }

    public IReadOnlyList<PolicyConflict> Conflicts { get; init; } = [];

    /// <summary>True when the route needs the transformation service (and so the ext_proc filter and cluster).</summary>
    public bool UsesExternalProcessing => Transformation?.UsesExternalProcessing == true;

    /// <summary>Resolves the policies attached at each level to one rule. Pass only successfully compiled policies.</summary>
    public static RouteTrafficPolicy Resolve(
        IEnumerable<CompiledTrafficPolicy>? gatewayLevel,
        IEnumerable<CompiledTrafficPolicy>? routeLevel,
        IEnumerable<CompiledTrafficPolicy>? ruleLevel = null)
    {
        var levels = new (PolicyLevel Level, List<CompiledTrafficPolicy> Policies)[]
        {
            (PolicyLevel.Rule, Ordered(ruleLevel)),
            (PolicyLevel.Route, Ordered(routeLevel)),
            (PolicyLevel.Gateway, Ordered(gatewayLevel)),
        };
        var conflicts = new List<PolicyConflict>();

        (T? Value, PolicyLevel Level, string? Source) Pick<T>(string feature, Func<CompiledTrafficPolicy, T?> select)
            where T : class
        {
            foreach (var (level, policies) in levels)
            {
                var having = policies.Where(p => select(p) is not null).ToList();
                if (having.Count == 0)
                {
                    continue;
                }

                foreach (var loser in having.Skip(1))
                {
                    conflicts.Add(new PolicyConflict(loser.Key, having[0].Key, feature, level));
                }

                return (select(having[0]), level, having[0].Key);
            }

            return (null, PolicyLevel.Gateway, null);
        }

        var transformation = Pick("transformation", p => p.Transformation);
        var retry = Pick("retry", p => p.Retry);
        var timeout = Pick("timeouts.request", p => p.RequestTimeout);
        var idle = Pick("timeouts.streamIdle", p => p.StreamIdleTimeout);
        return new RouteTrafficPolicy
        {
            Transformation = transformation.Value,
            TransformationSource = transformation.Source,
            Retry = retry.Value,
            RetryLevel = retry.Level,
            RetrySource = retry.Source,
            RequestTimeout = timeout.Value,
            RequestTimeoutLevel = timeout.Level,
            StreamIdleTimeout = idle.Value,
            StreamIdleTimeoutLevel = idle.Level,
            Conflicts = conflicts,
        };
    }

    /// <summary>
    /// Puts the policy on <paramref name="route"/>. Call it after the HTTPRoute rule's own filters, <c>retry</c> and
    /// <c>timeouts</c> are translated, leaving <c>retry_policy</c>/<c>timeout</c> unset when the rule has none:
    /// Gateway-level values only fill what the rule left unset.
    /// </summary>
    public void ApplyTo(Route route)
    {
        ArgumentNullException.ThrowIfNull(route);
        if (Transformation is { } transformation)
        {
            if (transformation.ExtProcPerRoute is { } perRoute)
            {
                route.TypedPerFilterConfig[TransformationExtProc.FilterName] = Any.Pack(new FilterConfig { Config = Any.Pack(perRoute) });
            }
            else
            {
                route.RequestHeadersToAdd.AddRange(transformation.RequestHeadersToAdd.Select(h => h.Clone()));
                route.RequestHeadersToRemove.AddRange(transformation.RequestHeadersToRemove);
                route.ResponseHeadersToAdd.AddRange(transformation.ResponseHeadersToAdd.Select(h => h.Clone()));
                route.ResponseHeadersToRemove.AddRange(transformation.ResponseHeadersToRemove);
            }
        }

        if (route.Route_ is not { } action)
        {
            return; // redirect / direct response: nothing is forwarded, so retries and timeouts do not apply.
        }

        if (Retry is { } retry && (RetryLevel != PolicyLevel.Gateway || action.RetryPolicy is null))
        {
            var merged = retry.Clone();
            if (merged.PerTryTimeout is null && action.RetryPolicy?.PerTryTimeout is { } rulePerTry)
            {
                merged.PerTryTimeout = rulePerTry.Clone();
            }

            action.RetryPolicy = merged;
        }

        if (RequestTimeout is { } timeout && (RequestTimeoutLevel != PolicyLevel.Gateway || action.Timeout is null))
        {
            action.Timeout = timeout.Clone();
        }

        if (StreamIdleTimeout is { } idle && (StreamIdleTimeoutLevel != PolicyLevel.Gateway || action.IdleTimeout is null))
        {
            action.IdleTimeout = idle.Clone();
        }
    }

    private static List<CompiledTrafficPolicy> Ordered(IEnumerable<CompiledTrafficPolicy>? policies) =>
        (policies ?? [])
            .OrderBy(p => p.CreationTimestamp ?? DateTime.MaxValue)
            .ThenBy(p => p.Namespace, StringComparer.Ordinal)
            .ThenBy(p => p.Name, StringComparer.Ordinal)
            .ToList();
}
