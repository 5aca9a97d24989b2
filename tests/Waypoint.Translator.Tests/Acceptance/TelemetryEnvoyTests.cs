using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Waypoint.TestKit.Http;
using Waypoint.TestKit.Observability;

namespace Waypoint.Translator.Tests.Acceptance;

/// <summary>
/// Access logs and tracing as an operator sees them: a real waypoint Envoy configured by the translator (from
/// WaypointParameters <c>spec.telemetry</c>), requests through HBONE, its stdout parsed as JSON lines, its spans read
/// back from a real Jaeger (OTLP/gRPC), the <c>traceparent</c> read from what the backend received.
/// </summary>
public sealed class TelemetryEnvoyTests
{
    private const string RouteName = "app.echo.0.0";

    private const string EchoRoute = """
        apiVersion: gateway.networking.k8s.io/v1
        kind: HTTPRoute
        metadata: {name: echo, namespace: app, generation: 1, creationTimestamp: "2026-01-01T00:00:00Z"}
        spec:
          parentRefs: [{group: "", kind: Service, name: echo, port: 80}]
          rules:
          - matches: [{path: {type: PathPrefix, value: /api}}]
            backendRefs: [{name: echo, port: 80}]
        """;

    private static string Parameters(string telemetry) => $$"""
        apiVersion: gateway.kgateway.dev/v1alpha1
        kind: WaypointParameters
        metadata: {name: telemetry, namespace: app}
        spec:
          telemetry:
        {{telemetry}}
        """;

    [Fact]
    public async Task Access_Log_Is_One_Istio_Json_Line_Per_Request_On_Stdout()
    {
        await using var echo = await EchoBackend.StartAsync("echo");
        var documents = Parameters("    accessLogs: {enabled: true}") + "\n---\n" + EchoRoute;
        var (harness, _) = await WaypointEnvoyHarness.StartAsync(WaypointEnvoyHarness.Mesh(echo.EndPoint, documents, "telemetry"), WaypointEnvoyHarness.EchoAuthority);
        await using var _ = harness;
        using var client = harness.CreateHttpClient(WaypointEnvoyHarness.EchoAuthority);

        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/logged?x=1");
        request.Headers.UserAgent.ParseAdd("telemetry-test/1.0");
        using var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var seen = EchoResponse.Parse(await response.Content.ReadAsStringAsync());
        using var missing = await client.GetAsync("/nowhere");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);

        var line = await WaitForLogAsync(harness, l => l["path"]?.ToString() == "/api/logged?x=1");
        foreach (var (field, _) in Internal.TelemetryBuilder.IstioJsonFields)
        {
            Assert.True(line.ContainsKey(field), $"access log lacks '{field}': {line.ToJsonString()}");
        }

        Assert.Equal(Internal.TelemetryBuilder.IstioJsonFields.Count, line.Count);
        Assert.Equal("GET", line["method"]!.ToString());
        Assert.Equal("HTTP/1.1", line["protocol"]!.ToString());
        Assert.Equal("200", line["response_code"]!.ToString());
        Assert.Equal("-", line["response_flags"]!.ToString());
        Assert.Equal("via_upstream", line["response_code_details"]!.ToString());
        Assert.Equal(RouteName, line["route_name"]!.ToString());
        Assert.Equal(WaypointEnvoyHarness.EchoVip, line["authority"]!.ToString()); // the client omits the default port from Host
        Assert.Equal("telemetry-test/1.0", line["user_agent"]!.ToString());
        Assert.Equal(seen.Headers["x-request-id"], line["request_id"]!.ToString());
        Assert.Equal("inbound-vip|80|http|echo.app.svc.cluster.local", line["upstream_cluster"]!.ToString());
        Assert.Equal($"127.0.0.1:{echo.EndPoint.Port}", line["upstream_host"]!.ToString());
        Assert.True(long.Parse(line["bytes_sent"]!.ToString(), System.Globalization.CultureInfo.InvariantCulture) > 0, line.ToJsonString());
        Assert.True(DateTimeOffset.TryParse(line["start_time"]!.ToString(), System.Globalization.CultureInfo.InvariantCulture, out var startTime) && startTime.Year >= 2026, line.ToJsonString());
        Assert.NotEqual("-", line["upstream_service_time"]?.ToString());

        // A request no route matches is logged too: 404 from Envoy itself, no upstream.
        var notFound = await WaitForLogAsync(harness, l => l["path"]?.ToString() == "/nowhere");
        Assert.Equal("404", notFound["response_code"]!.ToString());
        Assert.Equal("NR", notFound["response_flags"]!.ToString());
        Assert.Equal("route_not_found", notFound["response_code_details"]!.ToString());
    }

    [Fact]
    public async Task Access_Logs_Are_Off_By_Default()
    {
        await using var echo = await EchoBackend.StartAsync("echo");
        var (harness, translation) = await WaypointEnvoyHarness.StartAsync(WaypointEnvoyHarness.Mesh(echo.EndPoint, EchoRoute), WaypointEnvoyHarness.EchoAuthority);
        await using var _ = harness;
        using var client = harness.CreateHttpClient(WaypointEnvoyHarness.EchoAuthority);

        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/unlogged")).StatusCode);

        // The request completed (its stats are in), and no JSON line was written for it.
        await harness.Waypoint.WaitUntilAsync(
            async ct => await harness.Waypoint.GetStatValueAsync("cluster.inbound-vip|80|http|echo.app.svc.cluster.local.upstream_rq_completed", ct) == 1,
            TimeSpan.FromSeconds(10), "the request to be counted");
        Assert.DoesNotContain(harness.Waypoint.ConsoleLines(), l => l.Contains("/api/unlogged", StringComparison.Ordinal));
        var json = Translator.EnvoyJson.ToNode(translation.Waypoints[new WaypointKey("app", "waypoint")]).ToJsonString();
        Assert.DoesNotContain("accessLog", json, StringComparison.Ordinal);
        Assert.DoesNotContain("opentelemetry", json, StringComparison.Ordinal);
    }

    /// <summary>
    /// A request that carries a client's <c>traceparent</c> gets a waypoint span in that trace (child of the client's
    /// span), named after its route, from service <c>waypoint.app</c>; the backend receives a <c>traceparent</c> whose
    /// parent is that span. A request without one starts a new trace, propagated the same way.
    /// </summary>
    [Fact]
    public async Task Tracing_Exports_The_Route_Span_To_Jaeger_And_Propagates_Traceparent()
    {
        await using var jaeger = await JaegerProcess.StartAsync();
        await using var echo = await EchoBackend.StartAsync("echo");
        var documents = Parameters($"    tracing: {{collector: '127.0.0.1:{jaeger.OtlpGrpcPort}', samplingPercent: 100}}") + "\n---\n" + EchoRoute;
        var (harness, _) = await WaypointEnvoyHarness.StartAsync(WaypointEnvoyHarness.Mesh(echo.EndPoint, documents, "telemetry"), WaypointEnvoyHarness.EchoAuthority);
        await using var _ = harness;
        using var client = harness.CreateHttpClient(WaypointEnvoyHarness.EchoAuthority);

        var clientTraceId = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        var clientSpanId = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        using var traced = new HttpRequestMessage(HttpMethod.Get, "/api/traced");
        traced.Headers.Add("traceparent", $"00-{clientTraceId}-{clientSpanId}-01");
        using var tracedResponse = await client.SendAsync(traced);
        Assert.Equal(HttpStatusCode.OK, tracedResponse.StatusCode);
        var propagated = Traceparent(EchoResponse.Parse(await tracedResponse.Content.ReadAsStringAsync()));
        Assert.Equal(clientTraceId, propagated.TraceId);
        Assert.NotEqual(clientSpanId, propagated.ParentId);

        using var fresh = await client.GetAsync("/api/fresh");
        Assert.Equal(HttpStatusCode.OK, fresh.StatusCode);
        var started = Traceparent(EchoResponse.Parse(await fresh.Content.ReadAsStringAsync()));
        Assert.NotEqual(clientTraceId, started.TraceId);

        var trace = await jaeger.WaitForTraceAsync(clientTraceId, t => Span(t, propagated.ParentId) is not null, TimeSpan.FromSeconds(30));
        var span = Span(trace, propagated.ParentId)!;
        Assert.Equal(RouteName, span["operationName"]!.ToString());
        Assert.Equal("waypoint.app", trace["processes"]![span["processID"]!.ToString()]!["serviceName"]!.ToString());
        var parent = Assert.Single(span["references"]!.AsArray());
        Assert.Equal(("CHILD_OF", clientSpanId), (parent!["refType"]!.ToString(), parent["spanID"]!.ToString()));
        Assert.Equal("server", Tag(span, "span.kind"));
        Assert.Equal("200", Tag(span, "http.status_code"));
        Assert.Contains("/api/traced", Tag(span, "http.url"), StringComparison.Ordinal);

        var freshTrace = await jaeger.WaitForTraceAsync(started.TraceId, t => Span(t, started.ParentId) is not null, TimeSpan.FromSeconds(30));
        var root = Span(freshTrace, started.ParentId)!;
        Assert.Equal(RouteName, root["operationName"]!.ToString());
        Assert.Empty(root["references"]!.AsArray());
    }

    private static async Task<JsonObject> WaitForLogAsync(WaypointEnvoyHarness harness, Func<JsonObject, bool> match)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (DateTime.UtcNow < deadline)
        {
            foreach (var text in harness.Waypoint.ConsoleLines())
            {
                if (text.StartsWith('{') && JsonNode.Parse(text) is JsonObject line && match(line))
                {
                    return line;
                }
            }

            await Task.Delay(100);
        }

        throw new TimeoutException("No matching JSON access log line on the waypoint's stdout:\n" + string.Join('\n', harness.Waypoint.ConsoleLines()) + "\n" + harness.Waypoint.LogTail());
    }

    private static (string TraceId, string ParentId) Traceparent(EchoResponse seen)
    {
        Assert.True(seen.Headers.TryGetValue("traceparent", out var header), "the backend received no traceparent: " + JsonSerializer.Serialize(seen.Headers));
        var parts = header!.Split('-');
        Assert.Equal(4, parts.Length);
        Assert.Equal("00", parts[0]);
        Assert.Equal("01", parts[3]);
        return (parts[1], parts[2]);
    }

    private static JsonNode? Span(JsonNode trace, string spanId) =>
        trace["spans"]!.AsArray().FirstOrDefault(s => s!["spanID"]!.ToString() == spanId);

    private static string Tag(JsonNode span, string key) =>
        span["tags"]!.AsArray().FirstOrDefault(t => t!["key"]!.ToString() == key)?["value"]?.ToString()
            ?? throw new Xunit.Sdk.XunitException($"span has no tag '{key}': {span.ToJsonString()}");
}
