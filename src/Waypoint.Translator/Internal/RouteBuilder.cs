using System.Text.RegularExpressions;
using Envoy.Config.Core.V3;
using Envoy.Config.Route.V3;
using Envoy.Extensions.Retry.Host.PreviousHosts.V3;
using Envoy.Type.Matcher.V3;
using Envoy.Type.V3;
using Waypoint.Transformation.Compilation;
using Waypoint.Translator.Model;
using EnvoyRoute = Envoy.Config.Route.V3.Route;
using RetryPolicy = Envoy.Config.Route.V3.RetryPolicy;

namespace Waypoint.Translator.Internal;

/// <summary>Builds the routes of one HTTP chain (one service port) from its HTTPRoutes.</summary>
/// <remarks>
/// Precedence: Service-parented (GAMMA) rules first, then Gateway-parented rules, each group sorted by the Gateway
/// API rules (path kind and length, method, header count, query count, then route age and name, then rule order).
/// With no applicable route the port gets Istio's default route. See docs/translator.md.
/// </remarks>
internal static class RouteBuilder
{
    /// <summary>Istio's default: retries only what cannot have reached the application (safe for any method).</summary>
    private const string DefaultRetryOn = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes";

    /// <summary>
    /// An HTTPRoute <c>retry</c> stanza (GEP-1731) also retries a try that got no response: a connection reset or
    /// disconnect, and a try that hit <c>timeouts.backendRequest</c> (Envoy's <c>reset</c> covers both; a per-try
    /// timeout is a local reset). These tries may have reached the backend, so non-idempotent requests may be
    /// replayed: documented in docs/translator.md, as GEP-1731 asks.
    /// </summary>
    private const string RouteRetryOn = "connect-failure,refused-stream,unavailable,cancelled,reset,retriable-status-codes";

    public static RouteConfiguration Build(
        string chainName,
        ServiceModel service,
        ServicePortModel port,
        IReadOnlyList<CompiledRoute> serviceRoutes,
        IReadOnlyList<CompiledRoute> gatewayRoutes,
        BackendResolver resolver,
        string defaultCluster,
        RoutePolicies policies)
    {
        var virtualHost = new VirtualHost { Name = $"inbound|http|{port.Port}", Domains = { "*" } };
        if (serviceRoutes.Count == 0 && gatewayRoutes.Count == 0)
        {
            virtualHost.Routes.Add(DefaultRoute(service, port, defaultCluster, policies));
        }
        else
        {
            AddRoutes(virtualHost, serviceRoutes, port, resolver, policies);
            AddRoutes(virtualHost, gatewayRoutes, port, resolver, policies);
        }

        return new RouteConfiguration { Name = chainName, ValidateClusters = false, VirtualHosts = { virtualHost } };
    }

    /// <summary>True when a route of <paramref name="routes"/> enables the transformation service (ext_proc).</summary>
    public static bool UsesTransformationService(RouteConfiguration routes) =>
        routes.VirtualHosts.SelectMany(v => v.Routes).Any(r => r.TypedPerFilterConfig.ContainsKey(TransformationExtProc.FilterName));

    /// <summary>The TrafficPolicies a chain's routes resolve against, and where their conflicts are reported.</summary>
    internal sealed record RoutePolicies(TrafficPolicyIndex Index, IReadOnlyList<CompiledTrafficPolicy> Gateway, List<PolicyConflict> Conflicts)
    {
        public RouteTrafficPolicy? Resolve(CompiledRoute? route, HTTPRouteRule? rule)
        {
            var routeLevel = route is null ? [] : Index.OfRoute(route.Namespace, route.Name);
            var ruleLevel = route is null || rule is null ? [] : Index.OfRule(route.Namespace, route.Name, rule.Name);
            if (Gateway.Count == 0 && routeLevel.Count == 0 && ruleLevel.Count == 0)
            {
                return null;
            }

            var effective = RouteTrafficPolicy.Resolve(Gateway, routeLevel, ruleLevel);
            Conflicts.AddRange(effective.Conflicts);
            return effective;
        }
    }

    private static EnvoyRoute DefaultRoute(ServiceModel service, ServicePortModel port, string cluster, RoutePolicies policies)
    {
        var route = new EnvoyRoute
        {
            Name = "default",
            Match = new RouteMatch { Prefix = "/" },
            Decorator = new Decorator { Operation = $"{service.Host}:{port.Port}/*" },
            Route_ = new RouteAction
            {
                Cluster = cluster,
                MaxStreamDuration = new RouteAction.Types.MaxStreamDuration { GrpcTimeoutHeaderMax = Envoy.Duration(TimeSpan.Zero) },
            },
        };

        // Istio's defaults are not the route's own settings: a Gateway-level policy replaces them.
        policies.Resolve(null, null)?.ApplyTo(route);
        route.Route_.Timeout ??= Envoy.Duration(TimeSpan.Zero);
        route.Route_.RetryPolicy ??= DefaultRetry();
        return route;
    }

    private static readonly RetryPolicy.Types.RetryHostPredicate s_previousHosts = new()
    {
        Name = "envoy.retry_host_predicates.previous_hosts",
        TypedConfig = Envoy.Pack(new PreviousHostsPredicate()),
    };

    private static RetryPolicy DefaultRetry() => new()
    {
        RetryOn = DefaultRetryOn,
        NumRetries = 2,
        RetryHostPredicate = { s_previousHosts },
        HostSelectionRetryMaxAttempts = 5,
    };

    private readonly record struct Entry(CompiledRoute Route, int RuleIndex, int MatchIndex, HTTPRouteRule Rule, HTTPRouteMatch? Match);

    private static void AddRoutes(VirtualHost virtualHost, IReadOnlyList<CompiledRoute> routes, ServicePortModel port, BackendResolver resolver, RoutePolicies policies)
    {
        if (routes.Count == 0)
        {
            return;
        }

        var entries = new List<Entry>();
        foreach (var route in routes)
        {
            for (var r = 0; r < route.Rules.Count; r++)
            {
                var rule = route.Rules[r];
                if (rule.Matches is not { Count: > 0 } matches)
                {
                    entries.Add(new Entry(route, r, 0, rule, null));
                    continue;
                }

                for (var m = 0; m < matches.Count; m++)
                {
                    entries.Add(new Entry(route, r, m, rule, matches[m]));
                }
            }
        }

        // Routes arrive sorted by age then name; a stable sort by specificity keeps that as the tie-break.
        var sorted = entries.OrderBy(e => e, SpecificityComparer.Instance).ToList();
        foreach (var entry in sorted)
        {
            virtualHost.Routes.Add(BuildRoute(entry, port, resolver, policies));
        }
    }

    private sealed class SpecificityComparer : IComparer<Entry>
    {
        public static readonly SpecificityComparer Instance = new();

        public int Compare(Entry x, Entry y)
        {
            // Higher rank first: Exact > RegularExpression > PathPrefix (Istio's order for regex), longer first.
            var c = PathRank(y.Match).CompareTo(PathRank(x.Match));
            if (c != 0)
            {
                return c;
            }

            c = PathLength(y.Match).CompareTo(PathLength(x.Match));
            if (c != 0)
            {
                return c;
            }

            c = (y.Match?.Method is not null).CompareTo(x.Match?.Method is not null);
            if (c != 0)
            {
                return c;
            }

            c = (y.Match?.Headers?.Count ?? 0).CompareTo(x.Match?.Headers?.Count ?? 0);
            if (c != 0)
            {
                return c;
            }

            return (y.Match?.QueryParams?.Count ?? 0).CompareTo(x.Match?.QueryParams?.Count ?? 0);
        }

        private static int PathRank(HTTPRouteMatch? match) => (match?.Path?.Type ?? "PathPrefix") switch
        {
            "Exact" => 3,
            "RegularExpression" => 2,
            _ => 1,
        };

        private static int PathLength(HTTPRouteMatch? match) => (match?.Path?.Value ?? "/").Length;
    }

    private static EnvoyRoute BuildRoute(Entry entry, ServicePortModel port, BackendResolver resolver, RoutePolicies policies)
    {
        var policy = policies.Resolve(entry.Route, entry.Rule);
        var route = BuildRoute(entry, port, resolver, deferDefaults: policy is not null);
        if (policy is not null)
        {
            policy.ApplyTo(route);
            if (route.Route_ is { } action)
            {
                FillDefaults(action, entry.Rule);
            }
        }

        return route;
    }

    private static EnvoyRoute BuildRoute(Entry entry, ServicePortModel port, BackendResolver resolver, bool deferDefaults)
    {
        var rule = entry.Rule;
        var route = new EnvoyRoute
        {
            Name = $"{entry.Route.Namespace}.{entry.Route.Name}.{entry.RuleIndex}.{entry.MatchIndex}",
            Match = BuildMatch(entry.Match),
        };

        var filters = rule.Filters ?? [];
        var prefix = PrefixOf(entry.Match);
        foreach (var filter in filters)
        {
            switch (filter.Type)
            {
                case "RequestHeaderModifier":
                    AddHeaders(route.RequestHeadersToAdd, route.RequestHeadersToRemove, filter.RequestHeaderModifier!);
                    break;
                case "ResponseHeaderModifier":
                    AddHeaders(route.ResponseHeadersToAdd, route.ResponseHeadersToRemove, filter.ResponseHeaderModifier!);
                    break;
            }
        }

        var redirect = filters.FirstOrDefault(f => f.Type == "RequestRedirect")?.RequestRedirect;
        if (redirect is not null)
        {
            route.Redirect = BuildRedirect(redirect, prefix);
            return route;
        }

        var action = new RouteAction
        {
            Timeout = deferDefaults ? null : Envoy.Duration(TimeSpan.Zero),
            ClusterNotFoundResponseCode = RouteAction.Types.ClusterNotFoundResponseCode.InternalServerError,
        };

        var rewrite = filters.FirstOrDefault(f => f.Type == "URLRewrite")?.UrlRewrite;
        if (rewrite is not null)
        {
            if (rewrite.Hostname is not null)
            {
                action.HostRewriteLiteral = rewrite.Hostname;
            }

            ApplyPathRewrite(rewrite.Path, prefix, r => action.RegexRewrite = r, p => action.PrefixRewrite = p);
        }

        foreach (var mirror in filters.Where(f => f.Type == "RequestMirror").Select(f => f.RequestMirror!))
        {
            var b = mirror.BackendRef;
            var cluster = resolver.ResolvedName(entry.Route.Namespace, b, port.Port);
            if (cluster is null)
            {
                continue;
            }

            var policy = new RouteAction.Types.RequestMirrorPolicy { Cluster = cluster };
            if (mirror.Fraction is { } fraction)
            {
                policy.RuntimeFraction = new RuntimeFractionalPercent
                {
                    DefaultValue = new FractionalPercent
                    {
                        Numerator = (uint)(fraction.Numerator * 1_000_000L / (fraction.Denominator ?? 100)),
                        Denominator = FractionalPercent.Types.DenominatorType.Million,
                    },
                };
            }
            else if (mirror.Percent is { } percent)
            {
                policy.RuntimeFraction = new RuntimeFractionalPercent
                {
                    DefaultValue = new FractionalPercent { Numerator = (uint)percent, Denominator = FractionalPercent.Types.DenominatorType.Hundred },
                };
            }

            action.RequestMirrorPolicies.Add(policy);
        }

        // Weighted backends; weight 0 is never chosen; an unusable backend keeps its share and answers 500.
        var weighted = new WeightedCluster();
        foreach (var backend in rule.BackendRefs ?? [])
        {
            var weight = backend.Weight ?? 1;
            if (weight == 0)
            {
                continue;
            }

            var cluster = resolver.ResolvedName(entry.Route.Namespace, backend, port.Port)
                ?? BackendResolver.InvalidName(backend.Namespace ?? entry.Route.Namespace, backend.Name);
            var clusterWeight = new WeightedCluster.Types.ClusterWeight { Name = cluster, Weight = (uint)weight };
            foreach (var filter in backend.Filters ?? [])
            {
                if (filter.Type == "RequestHeaderModifier")
                {
                    AddHeaders(clusterWeight.RequestHeadersToAdd, clusterWeight.RequestHeadersToRemove, filter.RequestHeaderModifier!);
                }
                else if (filter.Type == "ResponseHeaderModifier")
                {
                    AddHeaders(clusterWeight.ResponseHeadersToAdd, clusterWeight.ResponseHeadersToRemove, filter.ResponseHeaderModifier!);
                }
            }

            weighted.Clusters.Add(clusterWeight);
        }

        if (weighted.Clusters.Count == 0)
        {
            route.DirectResponse = new DirectResponseAction { Status = 500 };
            return route;
        }

        if (weighted.Clusters.Count == 1 && IsPlain(weighted.Clusters[0]))
        {
            action.Cluster = weighted.Clusters[0].Name;
        }
        else
        {
            action.WeightedClusters = weighted;
        }

        ApplyTimeoutsAndRetry(action, rule, deferDefaults);
        route.Route_ = action;
        return route;
    }

    /// <summary>
    /// After a TrafficPolicy was applied: what neither the rule nor a policy set gets the defaults, and a policy retry
    /// without <c>perTryTimeout</c> keeps the rule's <c>timeouts.backendRequest</c>.
    /// </summary>
    private static void FillDefaults(RouteAction action, HTTPRouteRule rule)
    {
        var backendRequest = rule.Timeouts?.BackendRequest is { } text && GatewayDuration.TryParse(text, out var b) ? b : (TimeSpan?)null;
        if (rule.Retry is null)
        {
            if (action.RetryPolicy is null)
            {
                action.RetryPolicy = DefaultRetry();
                if (backendRequest is { } perTry)
                {
                    action.RetryPolicy.PerTryTimeout = Envoy.Duration(perTry);
                }
            }
            else if (action.RetryPolicy.PerTryTimeout is null && backendRequest is { } perTry)
            {
                action.RetryPolicy.PerTryTimeout = Envoy.Duration(perTry);
            }
        }

        action.Timeout ??= Envoy.Duration(TimeSpan.Zero);
    }

    private static bool IsPlain(WeightedCluster.Types.ClusterWeight weight) =>
        weight.RequestHeadersToAdd.Count == 0 && weight.RequestHeadersToRemove.Count == 0
        && weight.ResponseHeadersToAdd.Count == 0 && weight.ResponseHeadersToRemove.Count == 0;

    /// <param name="deferDefaults">A TrafficPolicy applies next: leave unset what the rule does not set (see <see cref="FillDefaults"/>).</param>
    private static void ApplyTimeoutsAndRetry(RouteAction action, HTTPRouteRule rule, bool deferDefaults)
    {
        RetryPolicy? retry;
        if (rule.Retry is { } spec)
        {
            if (spec.Attempts == 0)
            {
                retry = null;
            }
            else
            {
                retry = DefaultRetry();
                retry.RetryOn = RouteRetryOn;
                retry.NumRetries = (uint)(spec.Attempts ?? 2);
                if (spec.Codes is { Count: > 0 } codes)
                {
                    retry.RetriableStatusCodes.AddRange(codes.Distinct().Order().Select(c => (uint)c));
                }

                if (spec.Backoff is { } backoffText && GatewayDuration.TryParse(backoffText, out var backoff))
                {
                    retry.RetryBackOff = new RetryPolicy.Types.RetryBackOff
                    {
                        BaseInterval = Envoy.Duration(backoff),
                        MaxInterval = Envoy.Duration(backoff * 10),
                    };
                }
            }
        }
        else
        {
            retry = deferDefaults ? null : DefaultRetry();
        }

        if (rule.Timeouts?.Request is { } requestText && GatewayDuration.TryParse(requestText, out var request))
        {
            action.Timeout = Envoy.Duration(request);
        }

        if (rule.Timeouts?.BackendRequest is { } backendText && GatewayDuration.TryParse(backendText, out var backendRequest))
        {
            if (retry is not null)
            {
                retry.PerTryTimeout = Envoy.Duration(backendRequest);
            }
            else if (rule.Timeouts.Request is null && !(deferDefaults && rule.Retry is null))
            {
                action.Timeout = Envoy.Duration(backendRequest);
            }
        }

        if (retry is not null)
        {
            action.RetryPolicy = retry;
        }
    }

    private static RouteMatch BuildMatch(HTTPRouteMatch? match)
    {
        var result = new RouteMatch();
        var type = match?.Path?.Type ?? "PathPrefix";
        var value = match?.Path?.Value ?? "/";
        switch (type)
        {
            case "Exact":
                result.Path = value;
                break;
            case "RegularExpression":
                result.SafeRegex = new RegexMatcher { Regex = value };
                break;
            default:
                var trimmed = value.TrimEnd('/');
                if (trimmed.Length == 0)
                {
                    result.Prefix = "/";
                }
                else
                {
                    result.PathSeparatedPrefix = trimmed;
                }

                break;
        }

        foreach (var header in match?.Headers ?? [])
        {
            result.Headers.Add(new HeaderMatcher
            {
                Name = header.Name.ToLowerInvariant(),
                StringMatch = header.Type == "RegularExpression"
                    ? new StringMatcher { SafeRegex = new RegexMatcher { Regex = header.Value } }
                    : new StringMatcher { Exact = header.Value },
            });
        }

        foreach (var query in match?.QueryParams ?? [])
        {
            result.QueryParameters.Add(new QueryParameterMatcher
            {
                Name = query.Name,
                StringMatch = query.Type == "RegularExpression"
                    ? new StringMatcher { SafeRegex = new RegexMatcher { Regex = query.Value } }
                    : new StringMatcher { Exact = query.Value },
            });
        }

        if (match?.Method is { } method)
        {
            result.Headers.Add(new HeaderMatcher { Name = ":method", StringMatch = new StringMatcher { Exact = method } });
        }

        return result;
    }

    /// <summary>The matched prefix of a PathPrefix match without its trailing slash ("" for "/"), else null.</summary>
    private static string? PrefixOf(HTTPRouteMatch? match) =>
        (match?.Path?.Type ?? "PathPrefix") == "PathPrefix" ? (match?.Path?.Value ?? "/").TrimEnd('/') : null;

    private static void ApplyPathRewrite(HTTPPathModifier? path, string? prefix, Action<RegexMatchAndSubstitute> setRegex, Action<string> setPrefix)
    {
        if (path is null)
        {
            return;
        }

        if (path.Type == "ReplaceFullPath")
        {
            setRegex(new RegexMatchAndSubstitute { Pattern = new RegexMatcher { Regex = "^/.*$" }, Substitution = path.ReplaceFullPath! });
            return;
        }

        var replacement = path.ReplacePrefixMatch!;
        var trimmedReplacement = replacement.TrimEnd('/');
        if (string.IsNullOrEmpty(prefix))
        {
            // Matched "/": insert the replacement before the rest of the path.
            setRegex(new RegexMatchAndSubstitute { Pattern = new RegexMatcher { Regex = "^/" }, Substitution = trimmedReplacement + "/" });
        }
        else if (trimmedReplacement.Length == 0)
        {
            // "/foo/bar" with prefix "/foo" replaced by "/" must give "/bar", not "//bar".
            setRegex(new RegexMatchAndSubstitute { Pattern = new RegexMatcher { Regex = "^" + Regex.Escape(prefix) + "/*" }, Substitution = "/" });
        }
        else
        {
            setPrefix(trimmedReplacement);
        }
    }

    private static RedirectAction BuildRedirect(HTTPRequestRedirectFilter redirect, string? prefix)
    {
        var action = new RedirectAction
        {
            ResponseCode = redirect.StatusCode switch
            {
                301 => RedirectAction.Types.RedirectResponseCode.MovedPermanently,
                303 => RedirectAction.Types.RedirectResponseCode.SeeOther,
                307 => RedirectAction.Types.RedirectResponseCode.TemporaryRedirect,
                308 => RedirectAction.Types.RedirectResponseCode.PermanentRedirect,
                _ => RedirectAction.Types.RedirectResponseCode.Found,
            },
        };
        if (redirect.Scheme is { } scheme)
        {
            action.SchemeRedirect = scheme;
        }

        if (redirect.Hostname is { } host)
        {
            action.HostRedirect = host;
        }

        if (redirect.Port is { } port)
        {
            action.PortRedirect = (uint)port;
        }

        if (redirect.Path is { } path)
        {
            if (path.Type == "ReplaceFullPath")
            {
                action.PathRedirect = path.ReplaceFullPath!;
            }
            else
            {
                ApplyPathRewrite(path, prefix, r => action.RegexRewrite = r, p => action.PrefixRewrite = p);
            }
        }

        return action;
    }

    /// <summary>set = overwrite, add = append; literal values, so '%' is escaped from Envoy's formatter.</summary>
    private static void AddHeaders(
        Google.Protobuf.Collections.RepeatedField<HeaderValueOption> add,
        Google.Protobuf.Collections.RepeatedField<string> remove,
        HTTPHeaderFilter filter)
    {
        foreach (var header in filter.Set ?? [])
        {
            add.Add(new HeaderValueOption
            {
                Header = new HeaderValue { Key = header.Name.ToLowerInvariant(), Value = header.Value.Replace("%", "%%", StringComparison.Ordinal) },
                AppendAction = HeaderValueOption.Types.HeaderAppendAction.OverwriteIfExistsOrAdd,
            });
        }

        foreach (var header in filter.Add ?? [])
        {
            add.Add(new HeaderValueOption
            {
                Header = new HeaderValue { Key = header.Name.ToLowerInvariant(), Value = header.Value.Replace("%", "%%", StringComparison.Ordinal) },
                AppendAction = HeaderValueOption.Types.HeaderAppendAction.AppendIfExistsOrAdd,
            });
        }

        foreach (var name in filter.Remove ?? [])
        {
            remove.Add(name.ToLowerInvariant());
        }
    }
}
