using Envoy.Config.Route.V3;
using Google.Protobuf.WellKnownTypes;
using Waypoint.Transformation.Compilation;

namespace Waypoint.Transformation.Tests.Compilation;

public sealed class RouteTrafficPolicyTests
{
    private static readonly DateTime s_t0 = new(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    private static CompiledTrafficPolicy Retry(string name, int attempts, string kind = "HTTPRoute", DateTime? created = null, string? perTry = null) =>
        PolicyYaml.Compile(name, $"retry:\n  retryOn: [5xx]\n  attempts: {attempts}" + (perTry is null ? "" : $"\n  perTryTimeout: {perTry}"), kind, created ?? s_t0);

    private static CompiledTrafficPolicy Timeout(string name, string timeout, string kind = "HTTPRoute") =>
        PolicyYaml.Compile(name, $"timeouts:\n  request: {timeout}", kind, s_t0);

    private static CompiledTrafficPolicy Header(string name, string value, string kind = "HTTPRoute", DateTime? created = null) =>
        PolicyYaml.Compile(name, $"transformation:\n  request:\n    set:\n    - name: x-policy\n      value: {value}", kind, created ?? s_t0);

    private static Route NewRoute(RetryPolicy? ruleRetry = null, TimeSpan? ruleTimeout = null) => new()
    {
        Route_ = new RouteAction
        {
            Cluster = "c",
            RetryPolicy = ruleRetry,
            Timeout = ruleTimeout is { } t ? Duration.FromTimeSpan(t) : null,
        },
    };

    [Fact]
    public void GatewayLevel_AppliesWhenNothingMoreSpecificExists()
    {
        var route = NewRoute();
        RouteTrafficPolicy.Resolve([Retry("gw", 5, "Gateway"), Timeout("gw-t", "9s", "Gateway")], null).ApplyTo(route);
        Assert.Equal(5u, route.Route_.RetryPolicy.NumRetries);
        Assert.Equal(TimeSpan.FromSeconds(9), route.Route_.Timeout.ToTimeSpan());
    }

    [Fact]
    public void RouteLevel_BeatsGatewayLevel_PerFeature()
    {
        var resolved = RouteTrafficPolicy.Resolve(
            [Retry("gw", 5, "Gateway"), Header("gw-h", "gateway", "Gateway")],
            [Header("route-h", "route")]);
        var route = NewRoute();
        resolved.ApplyTo(route);

        Assert.Equal("route", Assert.Single(route.RequestHeadersToAdd).Header.Value); // transformation from the route level
        Assert.Equal(5u, route.Route_.RetryPolicy.NumRetries); // retry still from the gateway: the route policy has none
        Assert.Equal(("apps/route-h", "apps/gw"), (resolved.TransformationSource, resolved.RetrySource));
    }

    [Fact]
    public void RuleLevel_BeatsRouteLevel()
    {
        var resolved = RouteTrafficPolicy.Resolve(null, [Retry("route", 2)], [Retry("rule", 7)]);
        Assert.Equal(7u, resolved.Retry!.NumRetries);
        Assert.Equal(PolicyLevel.Rule, resolved.RetryLevel);
    }

    [Fact]
    public void HttpRouteOwnRetryAndTimeout_BeatGatewayLevel()
    {
        var ruleRetry = new RetryPolicy { NumRetries = 1, RetryOn = "connect-failure" };
        var route = NewRoute(ruleRetry, TimeSpan.FromSeconds(3));
        RouteTrafficPolicy.Resolve([Retry("gw", 5, "Gateway"), Timeout("gw-t", "9s", "Gateway")], null).ApplyTo(route);
        Assert.Equal(1u, route.Route_.RetryPolicy.NumRetries);
        Assert.Equal(TimeSpan.FromSeconds(3), route.Route_.Timeout.ToTimeSpan());
    }

    [Fact]
    public void RouteLevelPolicy_BeatsHttpRouteOwnRetry_ButKeepsItsBackendRequestTimeout()
    {
        var ruleRetry = new RetryPolicy { NumRetries = 1, RetryOn = "connect-failure", PerTryTimeout = Duration.FromTimeSpan(TimeSpan.FromMilliseconds(700)) };
        var route = NewRoute(ruleRetry, TimeSpan.FromSeconds(3));
        RouteTrafficPolicy.Resolve(null, [Retry("route", 4), Timeout("route-t", "8s")]).ApplyTo(route);

        Assert.Equal(4u, route.Route_.RetryPolicy.NumRetries);
        Assert.Equal("5xx", route.Route_.RetryPolicy.RetryOn);
        Assert.Equal(TimeSpan.FromMilliseconds(700), route.Route_.RetryPolicy.PerTryTimeout.ToTimeSpan());
        Assert.Equal(TimeSpan.FromSeconds(8), route.Route_.Timeout.ToTimeSpan());

        var withPerTry = NewRoute(ruleRetry.Clone());
        RouteTrafficPolicy.Resolve(null, [Retry("route", 4, perTry: "200ms")]).ApplyTo(withPerTry);
        Assert.Equal(TimeSpan.FromMilliseconds(200), withPerTry.Route_.RetryPolicy.PerTryTimeout.ToTimeSpan());
    }

    [Fact]
    public void SameLevel_OldestWins_OthersAreConflicted()
    {
        var older = Header("older", "a", created: s_t0);
        var newer = Header("newer", "b", created: s_t0.AddMinutes(1));
        var resolved = RouteTrafficPolicy.Resolve(null, [newer, older]);

        Assert.Equal("apps/older", resolved.TransformationSource);
        var conflict = Assert.Single(resolved.Conflicts);
        Assert.Equal(new PolicyConflict("apps/newer", "apps/older", "transformation", PolicyLevel.Route), conflict);
    }

    [Fact]
    public void SameTimestamp_TieBrokenByName()
    {
        var resolved = RouteTrafficPolicy.Resolve(null, [Header("b", "b"), Header("a", "a")]);
        Assert.Equal("apps/a", resolved.TransformationSource);
    }

    [Fact]
    public void ApplyTo_DoesNotMutateTheCompiledPolicy()
    {
        var policy = Retry("p", 2);
        var route = NewRoute();
        RouteTrafficPolicy.Resolve(null, [policy]).ApplyTo(route);
        route.Route_.RetryPolicy.NumRetries = 99;
        Assert.Equal(2u, policy.Retry!.NumRetries);
    }

    [Fact]
    public void ApplyTo_RedirectRoute_GetsHeadersButNoRetry()
    {
        var route = new Route { Redirect = new RedirectAction { PathRedirect = "/x" } };
        RouteTrafficPolicy.Resolve(null, [Retry("p", 2), Header("h", "v")]).ApplyTo(route);
        Assert.Single(route.RequestHeadersToAdd);
        Assert.Null(route.Route_);
    }
}
