using System.Text.Json.Nodes;

namespace Waypoint.Ambient.E2E.Tests;

/// <summary>
/// Client pods curl mesh services; ztunnel sends the traffic through the Waypoint waypoint, whose Envoy applies the
/// HTTPRoutes. Mirrors kgateway's Waypoint suite and Istio's ambient waypoint tests (see docs/controller.md).
/// </summary>
[Collection("ambient")]
public sealed class AmbientWaypointTests : IClassFixture<AmbientCluster>
{
    private const string SvcA = "http://svc-a.ambient-e2e.svc.cluster.local:8080";
    private readonly AmbientCluster _cluster;

    public AmbientWaypointTests(AmbientCluster cluster) => _cluster = cluster;

    [AmbientFact]
    public async Task Waypoint_Gateway_Is_Programmed_With_Addresses()
    {
        await AmbientCluster.EventuallyAsync(async () =>
        {
            var gateway = await _cluster.GetAsync(AmbientCluster.Namespace, "gateways", "waypoint");
            return Condition(gateway["status"], "Programmed") == "True" && gateway["status"]?["addresses"]?.AsArray().Count >= 1;
        }, "waypoint Gateway Programmed with addresses", seconds: 180);
    }

    [AmbientFact]
    public async Task Traffic_Traverses_The_Waypoint()
    {
        // Envoy adds x-request-id and x-envoy-expected-rq-timeout-ms only when L7 processing happened.
        await AmbientCluster.EventuallyAsync(async () =>
        {
            var (status, body) = await _cluster.CurlAsync($"{SvcA}/headers");
            return status == 200 && body.Contains("X-Request-Id", StringComparison.OrdinalIgnoreCase);
        }, "L7 processing by the waypoint");
    }

    [AmbientFact]
    public async Task HeaderMatch_Routes_To_Another_Backend_And_Status_Is_Accepted()
    {
        await _cluster.ApplyAsync(AmbientCluster.Namespace, "httproutes", AmbientCluster.Route("svc-a-split", "svc-a", """
            [{"matches":[{"headers":[{"name":"x-backend","value":"b"}]}],
              "filters":[{"type":"ResponseHeaderModifier","responseHeaderModifier":{"add":[{"name":"x-served-by","value":"b"}]}}],
              "backendRefs":[{"name":"svc-b","port":8080}]},
             {"backendRefs":[{"name":"svc-a","port":8080}]}]
            """));
        try
        {
            await AmbientCluster.EventuallyAsync(async () =>
            {
                var (status, body) = await _cluster.CurlAsync($"{SvcA}/status/200", "-H", "x-backend: b", "-D", "-");
                return status == 200 && body.Contains("x-served-by: b", StringComparison.OrdinalIgnoreCase);
            }, "header match routed to svc-b");

            var route = await _cluster.GetAsync(AmbientCluster.Namespace, "httproutes", "svc-a-split");
            var ours = route["status"]!["parents"]!.AsArray().Single(p => p!["controllerName"]!.GetValue<string>() == "waypoint.dev/controller");
            Assert.Equal("True", Condition(ours, "Accepted"));
            Assert.Equal("True", Condition(ours, "ResolvedRefs"));
        }
        finally
        {
            await _cluster.DeleteAsync(AmbientCluster.Namespace, "httproutes", "svc-a-split");
        }
    }

    [AmbientFact]
    public async Task Timeout_Answers_504()
    {
        await _cluster.ApplyAsync(AmbientCluster.Namespace, "httproutes", AmbientCluster.Route("svc-a-timeout", "svc-a", """
            [{"matches":[{"path":{"type":"PathPrefix","value":"/delay"}}],"timeouts":{"request":"1s"},"backendRefs":[{"name":"svc-a","port":8080}]},
             {"backendRefs":[{"name":"svc-a","port":8080}]}]
            """));
        try
        {
            await AmbientCluster.EventuallyAsync(async () => (await _cluster.CurlAsync($"{SvcA}/delay/3")).Status == 504, "request timeout enforced");
            Assert.Equal(200, (await _cluster.CurlAsync($"{SvcA}/status/200")).Status);
        }
        finally
        {
            await _cluster.DeleteAsync(AmbientCluster.Namespace, "httproutes", "svc-a-timeout");
        }
    }

    [AmbientFact]
    public async Task Retries_Hide_Transient_Failures()
    {
        await _cluster.ApplyAsync(AmbientCluster.Namespace, "httproutes", AmbientCluster.Route("svc-a-retry", "svc-a", """
            [{"retry":{"codes":[500],"attempts":5},"backendRefs":[{"name":"svc-a","port":8080}]}]
            """));
        try
        {
            await AmbientCluster.EventuallyAsync(async () =>
            {
                // /unstable fails half the time: 20 successes in a row happen with p = 2^-20 without retries, but with
                // 5 attempts each request fails only with p = 1/32, so a streak shows the waypoint retried.
                for (var i = 0; i < 20; i++)
                {
                    if ((await _cluster.CurlAsync($"{SvcA}/unstable?failure_rate=0.5")).Status != 200)
                    {
                        return false;
                    }
                }

                return true;
            }, "retries applied");
        }
        finally
        {
            await _cluster.DeleteAsync(AmbientCluster.Namespace, "httproutes", "svc-a-retry");
        }
    }

    [AmbientFact]
    public async Task Routes_On_Unbound_Services_Are_Not_Ours()
    {
        var route = AmbientCluster.Route("other", "svc-other", """[{"backendRefs":[{"name":"svc-other","port":8080}]}]""");
        route["metadata"]!["namespace"] = AmbientCluster.OtherNamespace;
        route["spec"]!["parentRefs"]![0]!["namespace"] = AmbientCluster.OtherNamespace;
        await _cluster.ApplyAsync(AmbientCluster.OtherNamespace, "httproutes", route);
        var (status, body) = await _cluster.CurlAsync("http://svc-other.ambient-e2e-other.svc.cluster.local:8080/headers");
        Assert.Equal(200, status);
        Assert.DoesNotContain("X-Request-Id", body, StringComparison.OrdinalIgnoreCase);
        var written = await _cluster.GetAsync(AmbientCluster.OtherNamespace, "httproutes", "other");
        Assert.DoesNotContain(written["status"]?["parents"]?.AsArray() ?? [], p => p!["controllerName"]!.GetValue<string>() == "waypoint.dev/controller");
    }

    private static string? Condition(JsonNode? holder, string type) =>
        (holder?["conditions"] as JsonArray)?.FirstOrDefault(c => c!["type"]!.GetValue<string>() == type)?["status"]?.GetValue<string>();
}
