using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using k8s.Models;
using Waypoint.Transformation.Compilation;
using Waypoint.Translator.Model;

namespace Waypoint.Translator.Internal;

/// <summary>An HTTPRoute after validation, with what it attaches to.</summary>
internal sealed class CompiledRoute
{
    public required V1HTTPRoute Route { get; init; }

    public string Namespace => Route.Metadata.NamespaceProperty ?? "default";

    public string Name => Route.Metadata.Name;

    public IList<HTTPRouteRule> Rules => Route.Spec.Rules ?? [];

    /// <summary>Creation time, for the Gateway API tie-break (oldest first).</summary>
    public DateTime Created => Route.Metadata.CreationTimestamp ?? DateTime.MaxValue;
}

/// <summary>A route attached to one service, possibly for one port only (<c>parentRef.port</c>).</summary>
internal readonly record struct ServiceAttachment(CompiledRoute Route, int? Port);

/// <summary>
/// Validates HTTPRoutes, attaches them to bound services (GAMMA) or to waypoint Gateways, and computes their status.
/// </summary>
/// <remarks>A route that fails validation is reported on every parent we manage and translated nowhere; other routes are unaffected.</remarks>
internal sealed partial class RouteCompiler
{
    private readonly Dictionary<ServiceModel, List<ServiceAttachment>> _byService = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<WaypointKey, List<CompiledRoute>> _byGateway = [];
    private readonly List<RouteStatusResult> _statuses = [];

    /// <summary>Validation depends on the route alone, and routes are immutable: each is validated once.</summary>
    /// <summary>Validation result per route object, with the regex program size limit it was checked against.</summary>
    private static readonly ConditionalWeakTable<V1HTTPRoute, Tuple<int, string?>> s_validation = [];

    public RouteCompiler(SnapshotIndex index, WaypointCatalog catalog, TranslatorOptions options)
    {
        foreach (var route in index.Snapshot.HttpRoutes)
        {
            Compile(route, index, catalog, options);
        }

        foreach (var list in _byGateway.Values)
        {
            list.Sort(CompareRoutes);
        }

        foreach (var list in _byService.Values)
        {
            list.Sort((a, b) => CompareRoutes(a.Route, b.Route));
        }

        _statuses.Sort((a, b) => CompareNames(a.Namespace, a.Name, b.Namespace, b.Name));
    }

    public IReadOnlyList<RouteStatusResult> Statuses => _statuses;

    public IReadOnlyList<ServiceAttachment> RoutesOf(ServiceModel service) =>
        _byService.TryGetValue(service, out var list) ? list : [];

    public IReadOnlyList<CompiledRoute> RoutesOf(WaypointKey gateway) =>
        _byGateway.TryGetValue(gateway, out var list) ? list : [];

    public IReadOnlyDictionary<WaypointKey, int> AttachedRouteCounts =>
        _byGateway.ToDictionary(p => p.Key, p => p.Value.Count);

    private static int CompareRoutes(CompiledRoute a, CompiledRoute b)
    {
        var byTime = a.Created.CompareTo(b.Created);
        return byTime != 0 ? byTime : CompareNames(a.Namespace, a.Name, b.Namespace, b.Name);
    }

    /// <summary>Orders by namespace, then name (ordinal), without building <c>namespace/name</c> strings.</summary>
    internal static int CompareNames(string namespaceA, string nameA, string namespaceB, string nameB)
    {
        var byNamespace = string.CompareOrdinal(namespaceA, namespaceB);
        return byNamespace != 0 ? byNamespace : string.CompareOrdinal(nameA, nameB);
    }

    private void Compile(V1HTTPRoute route, SnapshotIndex index, WaypointCatalog catalog, TranslatorOptions options)
    {
        var compiled = new CompiledRoute { Route = route };
        var generation = route.Metadata.Generation;
        var limit = options.MaxRegexProgramSize;
        if (!s_validation.TryGetValue(route, out var validation) || validation.Item1 != limit)
        {
            validation = Tuple.Create(limit, Validate(route, limit));
            s_validation.AddOrUpdate(route, validation);
        }

        var unsupported = validation.Item2
            ?? (EnvoyRejections.Find(index.Snapshot, WellKnown.HttpRouteKind, route) is { } rejection ? EnvoyRejections.Describe(rejection) : null);
        var parents = new List<RouteParentStatus>();
        IReadOnlyList<string>? refProblems = null;
        string? refReason = null;

        foreach (var parentRef in route.Spec.ParentRefs ?? [])
        {
            var outcome = Attach(compiled, parentRef, index, catalog, unsupported is null);
            if (outcome is null)
            {
                continue;
            }

            if (refProblems is null)
            {
                (refReason, refProblems) = CheckBackends(route, index);
            }

            var (acceptedReason, acceptedMessage) = outcome.Value;
            var accepted = unsupported is not null
                ? Conditions.False(Conditions.Accepted, "UnsupportedValue", unsupported, generation)
                : acceptedReason == "Accepted"
                    ? Conditions.True(Conditions.Accepted, "Accepted", acceptedMessage, generation)
                    : Conditions.False(Conditions.Accepted, acceptedReason, acceptedMessage, generation);
            var resolved = refProblems.Count == 0
                ? Conditions.True(Conditions.ResolvedRefs, "ResolvedRefs", "All references resolved.", generation)
                : Conditions.False(Conditions.ResolvedRefs, refReason!, string.Join(" ", refProblems), generation);
            parents.Add(new RouteParentStatus
            {
                ParentRef = parentRef,
                ControllerName = options.ControllerName,
                Conditions = [accepted, resolved],
            });
        }

        if (parents.Count > 0)
        {
            _statuses.Add(new RouteStatusResult(compiled.Namespace, compiled.Name, generation, parents));
        }
    }

    /// <summary>Attaches the route to a parent we manage; returns null for parents that are not ours.</summary>
    private (string Reason, string Message)? Attach(CompiledRoute route, ParentReference parentRef, SnapshotIndex index, WaypointCatalog catalog, bool valid)
    {
        var group = parentRef.Group ?? GatewayApi.Group;
        var kind = parentRef.Kind ?? "Gateway";
        var ns = parentRef.Namespace ?? route.Namespace;

        if (group == GatewayApi.Group && kind == "Gateway")
        {
            var key = new WaypointKey(ns, parentRef.Name);
            if (!catalog.IsOurGatewayKey(key))
            {
                return null;
            }

            var waypoint = catalog.Waypoint(key);
            if (waypoint is null)
            {
                return ("NoMatchingParent", $"Gateway {key.Namespace}/{key.Name} has no valid mesh listener.");
            }

            if (parentRef.SectionName is not null && parentRef.SectionName != WellKnown.MeshListenerName)
            {
                return ("NoMatchingParent", $"Gateway {key.Namespace}/{key.Name} has no listener '{parentRef.SectionName}'; a waypoint has only 'mesh'.");
            }

            if (parentRef.Port is not null && parentRef.Port != WellKnown.HbonePort)
            {
                return ("NoMatchingParent", $"Gateway {key.Namespace}/{key.Name} has no listener on port {parentRef.Port}.");
            }

            if (!WaypointCatalog.NamespaceAllowed(waypoint.Mesh, key.Namespace, route.Namespace, index))
            {
                return ("NotAllowedByListeners", $"allowedRoutes of Gateway {key.Namespace}/{key.Name} does not admit routes from namespace '{route.Namespace}'.");
            }

            if (valid)
            {
                if (!_byGateway.TryGetValue(key, out var list))
                {
                    _byGateway[key] = list = [];
                }

                list.Add(route);
            }

            return ("Accepted", $"Route applies to every service bound to waypoint {key.Namespace}/{key.Name}.");
        }

        IReadOnlyList<ServiceModel> targets;
        if (group.Length == 0 && kind == WellKnown.ServiceKind)
        {
            var service = index.Service(ns, parentRef.Name);
            if (service is null)
            {
                // Report a missing Service only where our waypoint would have served it.
                var nsWaypoint = LabelSelectors.Get(index.Namespace(ns)?.Metadata.Labels, WellKnown.UseWaypointLabel);
                var nsWaypointNs = LabelSelectors.Get(index.Namespace(ns)?.Metadata.Labels, WellKnown.UseWaypointNamespaceLabel) ?? ns;
                return nsWaypoint is not null && catalog.Waypoint(new WaypointKey(nsWaypointNs, nsWaypoint)) is not null
                    ? ("NoMatchingParent", $"Service {ns}/{parentRef.Name} not found.")
                    : null;
            }

            targets = [service];
        }
        else if (group == WellKnown.IstioNetworkingGroup && kind == WellKnown.ServiceEntryKind)
        {
            targets = index.ServiceEntry(ns, parentRef.Name);
            if (targets.Count == 0)
            {
                return null;
            }
        }
        else
        {
            return null;
        }

        var waypointKey = catalog.BindingOf(targets[0]);
        if (waypointKey is null)
        {
            return null;
        }

        var first = targets[0];
        if (parentRef.Port is not null && first.FindPort(parentRef.Port.Value) is null)
        {
            return ("NoMatchingParent", $"{first.Kind} {first.Namespace}/{first.Name} has no port {parentRef.Port}.");
        }

        if (targets.All(t => t.Vips.Count == 0))
        {
            return ("NoMatchingParent", $"{first.Kind} {first.Namespace}/{first.Name} has no cluster IP (headless); a waypoint serves only service VIP traffic.");
        }

        if (route.Namespace != first.Namespace && route.Namespace != waypointKey.Value.Namespace)
        {
            return ("NotAllowedByListeners", $"Consumer routes (namespace '{route.Namespace}' differs from the {first.Kind}'s) are not applied by a waypoint; put the route in namespace '{first.Namespace}'.");
        }

        if (valid)
        {
            foreach (var target in targets)
            {
                if (!_byService.TryGetValue(target, out var list))
                {
                    _byService[target] = list = [];
                }

                list.Add(new ServiceAttachment(route, parentRef.Port));
            }
        }

        return ("Accepted", $"Route applies to {first.Kind} {first.Namespace}/{first.Name} on waypoint {waypointKey.Value.Namespace}/{waypointKey.Value.Name}.");
    }

    /// <summary>Checks every backendRef; returns the first failure's reason and all problems.</summary>
    private static (string? Reason, IReadOnlyList<string> Problems) CheckBackends(V1HTTPRoute route, SnapshotIndex index)
    {
        string? reason = null;
        List<string>? problems = null;
        var routeNs = route.Metadata.NamespaceProperty ?? "default";

        void Check(BackendObjectReference backend)
        {
            if (BackendResolver.Check(routeNs, backend, index) is { } problem)
            {
                reason ??= problem.Reason;
                problems ??= [];
                if (!problems.Contains(problem.Message, StringComparer.Ordinal))
                {
                    problems.Add(problem.Message);
                }
            }
        }

        foreach (var rule in route.Spec.Rules ?? [])
        {
            foreach (var backend in rule.BackendRefs ?? [])
            {
                Check(backend);
            }

            foreach (var filter in rule.Filters ?? [])
            {
                if (filter.RequestMirror?.BackendRef is { } mirror)
                {
                    Check(mirror);
                }
            }
        }

        return (reason, problems is null ? [] : problems);
    }

    /// <summary>Returns why the route cannot be translated, or null when every field is supported.</summary>
    /// <param name="route">The route.</param>
    /// <param name="maxRegexProgramSize">The largest RE2 program Envoy accepts (see <see cref="TranslatorOptions.MaxRegexProgramSize"/>).</param>
    internal static string? Validate(V1HTTPRoute route, int maxRegexProgramSize)
    {
        var rules = route.Spec.Rules ?? [];
        for (var r = 0; r < rules.Count; r++)
        {
            var rule = rules[r];
            var where = $"rules[{r}]";
            foreach (var match in rule.Matches ?? [])
            {
                var type = match.Path?.Type ?? "PathPrefix";
                var value = match.Path?.Value ?? "/";
                switch (type)
                {
                    case "Exact" or "PathPrefix":
                        if (!value.StartsWith('/'))
                        {
                            return $"{where}: path '{value}' must start with '/'.";
                        }

                        break;
                    case "RegularExpression":
                        if (Re2Problem(value, maxRegexProgramSize) is { } pathProblem)
                        {
                            return $"{where}: path regular expression '{value}' {pathProblem}.";
                        }

                        break;
                    default:
                        return $"{where}: path match type '{type}' is not supported.";
                }

                foreach (var header in match.Headers ?? [])
                {
                    if (header.Type is not (null or "Exact" or "RegularExpression"))
                    {
                        return $"{where}: header match type '{header.Type}' is not supported.";
                    }

                    if (header.Type == "RegularExpression" && Re2Problem(header.Value, maxRegexProgramSize) is { } headerProblem)
                    {
                        return $"{where}: header regular expression '{header.Value}' {headerProblem}.";
                    }
                }

                foreach (var query in match.QueryParams ?? [])
                {
                    if (query.Type is not (null or "Exact" or "RegularExpression"))
                    {
                        return $"{where}: query parameter match type '{query.Type}' is not supported.";
                    }

                    if (query.Type == "RegularExpression" && Re2Problem(query.Value, maxRegexProgramSize) is { } queryProblem)
                    {
                        return $"{where}: query parameter regular expression '{query.Value}' {queryProblem}.";
                    }
                }

                if (match.Method is not null && match.Method is not ("GET" or "HEAD" or "POST" or "PUT" or "DELETE" or "CONNECT" or "OPTIONS" or "TRACE" or "PATCH"))
                {
                    return $"{where}: method '{match.Method}' is not supported.";
                }
            }

            var filters = rule.Filters ?? [];
            var hasRedirect = false;
            var hasRewrite = false;
            foreach (var filter in filters)
            {
                var problem = ValidateFilter(filter, rule, where, backendLevel: false);
                if (problem is not null)
                {
                    return problem;
                }

                hasRedirect |= filter.Type == "RequestRedirect";
                hasRewrite |= filter.Type == "URLRewrite";
            }

            if (hasRedirect && hasRewrite)
            {
                return $"{where}: RequestRedirect and URLRewrite cannot be combined.";
            }

            if (filters.Count(f => f.Type == "RequestRedirect") > 1 || filters.Count(f => f.Type == "URLRewrite") > 1
                || filters.Count(f => f.Type == "RequestHeaderModifier") > 1 || filters.Count(f => f.Type == "ResponseHeaderModifier") > 1)
            {
                return $"{where}: a filter type other than RequestMirror may appear only once per rule.";
            }

            foreach (var backend in rule.BackendRefs ?? [])
            {
                if (backend.Weight is < 0 or > 1_000_000)
                {
                    return $"{where}: backend weight {backend.Weight} is out of range 0..1000000.";
                }

                foreach (var filter in backend.Filters ?? [])
                {
                    var problem = ValidateFilter(filter, rule, where + $".backendRefs[{backend.Name}]", backendLevel: true);
                    if (problem is not null)
                    {
                        return problem;
                    }
                }
            }

            TimeSpan? request = null;
            if (rule.Timeouts?.Request is { } requestText)
            {
                if (!GatewayDuration.TryParse(requestText, out var parsed))
                {
                    return $"{where}: timeouts.request '{requestText}' is not a valid duration.";
                }

                request = parsed;
            }

            if (rule.Timeouts?.BackendRequest is { } backendText)
            {
                if (!GatewayDuration.TryParse(backendText, out var parsed))
                {
                    return $"{where}: timeouts.backendRequest '{backendText}' is not a valid duration.";
                }

                if (request is { } total && total != TimeSpan.Zero && (parsed == TimeSpan.Zero || parsed > total))
                {
                    return $"{where}: timeouts.backendRequest ({backendText}) must not exceed timeouts.request ({rule.Timeouts.Request}).";
                }
            }

            if (rule.Retry is { } retry)
            {
                if (retry.Attempts is < 0)
                {
                    return $"{where}: retry.attempts must not be negative.";
                }

                if (retry.Codes?.FirstOrDefault(c => c is < 400 or > 599) is int bad and not 0)
                {
                    return $"{where}: retry code {bad} is outside 400..599.";
                }

                if (retry.Backoff is { } backoff && (!GatewayDuration.TryParse(backoff, out var interval) || interval == TimeSpan.Zero))
                {
                    return $"{where}: retry.backoff '{backoff}' is not a valid positive duration.";
                }
            }
        }

        return null;
    }

    private static string? ValidateFilter(HTTPRouteFilter filter, HTTPRouteRule rule, string where, bool backendLevel)
    {
        switch (filter.Type)
        {
            case "RequestHeaderModifier":
                return ValidateHeaders(filter.RequestHeaderModifier, where, filter.Type);
            case "ResponseHeaderModifier":
                return ValidateHeaders(filter.ResponseHeaderModifier, where, filter.Type);
            case "RequestRedirect" when !backendLevel:
                var redirect = filter.RequestRedirect;
                if (redirect is null)
                {
                    return $"{where}: RequestRedirect filter has no requestRedirect.";
                }

                if (redirect.StatusCode is not (null or 301 or 302 or 303 or 307 or 308))
                {
                    return $"{where}: redirect statusCode {redirect.StatusCode} is not supported.";
                }

                if (redirect.Scheme is not (null or "http" or "https"))
                {
                    return $"{where}: redirect scheme '{redirect.Scheme}' is not supported.";
                }

                return ValidatePathModifier(redirect.Path, rule, where);
            case "URLRewrite" when !backendLevel:
                if (filter.UrlRewrite is null)
                {
                    return $"{where}: URLRewrite filter has no urlRewrite.";
                }

                return ValidatePathModifier(filter.UrlRewrite.Path, rule, where);
            case "RequestMirror" when !backendLevel:
                var mirror = filter.RequestMirror;
                if (mirror is null)
                {
                    return $"{where}: RequestMirror filter has no requestMirror.";
                }

                if (mirror.Percent is < 0 or > 100 || mirror.Fraction is { } f && (f.Numerator < 0 || f.Denominator is <= 0 || f.Numerator > (f.Denominator ?? 100)))
                {
                    return $"{where}: RequestMirror percent/fraction is out of range.";
                }

                return null;
            default:
                return backendLevel
                    ? $"{where}: filter '{filter.Type}' is not supported on a backendRef (only header modifiers are)."
                    : $"{where}: filter '{filter.Type}' is not supported.";
        }
    }

    private static string? ValidateHeaders(HTTPHeaderFilter? headers, string where, string type)
    {
        if (headers is null)
        {
            return $"{where}: {type} filter has no configuration.";
        }

        foreach (var header in (headers.Set ?? []).Concat(headers.Add ?? []))
        {
            if (!HeaderName().IsMatch(header.Name))
            {
                return $"{where}: header name '{header.Name}' is not valid.";
            }

            if (header.Name.StartsWith(':') || header.Name.Equals("host", StringComparison.OrdinalIgnoreCase))
            {
                return $"{where}: {type} cannot modify pseudo-header or Host '{header.Name}'.";
            }
        }

        return null;
    }

    private static string? ValidatePathModifier(HTTPPathModifier? path, HTTPRouteRule rule, string where)
    {
        if (path is null)
        {
            return null;
        }

        switch (path.Type)
        {
            case "ReplaceFullPath":
                return path.ReplaceFullPath is { } full && full.StartsWith('/') ? null : $"{where}: replaceFullPath must start with '/'.";
            case "ReplacePrefixMatch":
                if (path.ReplacePrefixMatch is not { } prefix || !prefix.StartsWith('/'))
                {
                    return $"{where}: replacePrefixMatch must start with '/'.";
                }

                var matches = rule.Matches ?? [];
                return matches.All(m => (m.Path?.Type ?? "PathPrefix") == "PathPrefix")
                    ? null
                    : $"{where}: ReplacePrefixMatch requires every match to be a PathPrefix match.";
            default:
                return $"{where}: path modifier type '{path.Type}' is not supported.";
        }
    }

    /// <summary>
    /// Why Envoy would refuse <paramref name="pattern"/> (RE2 syntax, or a program larger than the bootstrap's
    /// <c>re2.max_program_size.error_level</c>), as the end of a sentence; null when it compiles.
    /// </summary>
    internal static string? Re2Problem(string pattern, int maxProgramSize)
    {
        if (pattern.Length == 0)
        {
            return "is empty";
        }

        return Re2Pattern.Check(pattern, maxProgramSize).Error;
    }

    [GeneratedRegex(@"^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$")]
    private static partial Regex HeaderName();
}
