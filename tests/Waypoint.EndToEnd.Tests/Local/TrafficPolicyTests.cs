using System.Net;
using System.Text;
using System.Text.Json;
using Waypoint.Local.Echo;

namespace Waypoint.EndToEnd.Tests.Local;

public sealed class TrafficPolicyFixture : RigFixture
{
    public const string Ns = "tp";

    private static readonly string[] s_services = ["hdr", "b64", "body", "resp", "retry", "slow", "gw-a", "gw-b", "gw-c", "broken", "fine"];

    protected override IReadOnlyDictionary<string, string> Files => new Dictionary<string, string>
    {
        ["00-mesh.yaml"] = RigYaml.Namespace(Ns, waypoint: "waypoint") + RigYaml.Waypoint("waypoint", Ns),
        ["10-services.yaml"] = string.Concat(s_services.Select(s => RigYaml.EchoService(s, Ns))),
        ["20-routes.yaml"] = string.Concat(s_services.Where(s => s != "gw-a").Select(s => RouteYaml.ForService(s, Ns, $"  - backendRefs: [{{ name: {s}, port: 80 }}]"))),
        ["30-policies.yaml"] = string.Concat(
            Policy("mesh-default", "Gateway", "waypoint", """
              transformation:
                response:
                  add: [{ name: x-mesh-default, value: gateway }]
            """),
            Policy("gw-b-override", "HTTPRoute", "gw-b", """
              transformation:
                response:
                  add: [{ name: x-mesh-default, value: route }]
            """),
            Policy("hdr", "HTTPRoute", "hdr", """
              transformation:
                request:
                  set: [{ name: x-copied, value: '{{ request_header("x-source") }}' }]
            """),
            Policy("b64", "HTTPRoute", "b64", """
              transformation:
                response:
                  add: [{ name: x-base64-decoded, value: '{{ substring(base64_decode(request_header("x-base64-encoded")), 11) }}' }]
            """),
            Policy("body", "HTTPRoute", "body", """
              transformation:
                request:
                  set: [{ name: x-user-id, value: '{{ user.id }}' }]
                  body: { parseAs: AsJson }
            """),
            Policy("resp", "HTTPRoute", "resp", """
              transformation:
                response:
                  body: { parseAs: AsJson, value: '{"who": "{{ pod }}", "seen": "{{ path }}"}' }
            """),
            Policy("retry", "HTTPRoute", "retry", """
              retry: { retryOn: [5xx], attempts: 3, backoffBaseInterval: 10ms }
            """),
            Policy("slow", "HTTPRoute", "slow", """
              retry: { retryOn: [5xx], attempts: 2, perTryTimeout: 2s, backoffBaseInterval: 10ms }
            """),
            Policy("broken", "HTTPRoute", "broken", """
              transformation:
                request:
                  set: [{ name: x-bad, value: '{{ header("x-a" }}' }]
            """)),
    };

    public string Url(string service, string pathAndQuery) => $"http://{service}.{Ns}.svc.cluster.local{pathAndQuery}";

    private static string Policy(string name, string kind, string target, string spec) => $$"""
        apiVersion: gateway.kgateway.dev/v1alpha1
        kind: TrafficPolicy
        metadata:
          name: {{name}}
          namespace: {{Ns}}
        spec:
          targetRefs: [{ group: gateway.networking.k8s.io, kind: {{kind}}, name: {{target}} }]
        {{spec}}
        ---

        """;
}

public sealed class TrafficPolicyTests(TrafficPolicyFixture fixture) : IClassFixture<TrafficPolicyFixture>
{
    private HttpClient Client => fixture.Client;

    [Fact]
    public async Task RequestHeader_SetFromAnotherHeader()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, fixture.Url("hdr", "/"));
        request.Headers.Add("x-source", "from-client");
        var (_, echo) = await SendOkAsync(request);
        Assert.Equal("from-client", echo.Header("x-copied"));
    }

    [Fact]
    public async Task ResponseHeader_FromBase64DecodedRequestHeader_KgatewayExample()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, fixture.Url("b64", "/"));
        request.Headers.Add("x-base64-encoded", Convert.ToBase64String(Encoding.UTF8.GetBytes("hello world, waypoint")));
        var (response, _) = await SendOkAsync(request);
        Assert.Equal(", waypoint", string.Join(",", response.Headers.GetValues("x-base64-decoded")));
    }

    [Fact]
    public async Task JsonRequestBodyField_BecomesARequestHeader()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, fixture.Url("body", "/users"))
        {
            Content = new StringContent("""{"user": {"id": "u-42", "name": "Ada"}}""", Encoding.UTF8, "application/json"),
        };
        var (_, echo) = await SendOkAsync(request);
        Assert.Equal("u-42", echo.Header("x-user-id"));
        Assert.Equal("POST", echo.Method);
    }

    [Fact]
    public async Task ResponseBody_RenderedFromTheUpstreamJson()
    {
        using var response = await Client.GetAsync(fixture.Url("resp", "/orders/7"));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        using var json = JsonDocument.Parse(body);
        Assert.Equal("resp-0", json.RootElement.GetProperty("who").GetString());
        Assert.Equal("/orders/7", json.RootElement.GetProperty("seen").GetString());
        Assert.Equal(body.Length, (int)response.Content.Headers.ContentLength!.Value);
    }

    [Fact]
    public async Task Retry_5xxWithThreeAttempts_RecoversABackendFailingTwice()
    {
        var key = Guid.NewGuid().ToString("N");
        using var request = new HttpRequestMessage(HttpMethod.Get, fixture.Url("retry", "/flaky"));
        request.Headers.Add("x-echo-fail-times", "2");
        request.Headers.Add("x-echo-fail-key", key);
        var (_, echo) = await SendOkAsync(request);
        Assert.Equal(3, echo.Attempt);
        Assert.Equal(3, fixture.Rig.Recorder.WithHeader("x-echo-fail-key", key).Count);

        // Control: without the policy, Istio's default retry does not retry a 503.
        var control = Guid.NewGuid().ToString("N");
        using var plain = new HttpRequestMessage(HttpMethod.Get, fixture.Url("fine", "/flaky"));
        plain.Headers.Add("x-echo-fail-times", "2");
        plain.Headers.Add("x-echo-fail-key", control);
        using var failed = await Client.SendAsync(plain);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, failed.StatusCode);
        Assert.Single(fixture.Rig.Recorder.WithHeader("x-echo-fail-key", control));
    }

    [Fact]
    public async Task PerTryTimeout_CutsASlowAttempt_AndTheRetrySucceeds()
    {
        var key = Guid.NewGuid().ToString("N");
        using var request = new HttpRequestMessage(HttpMethod.Get, fixture.Url("slow", "/"));
        request.Headers.Add("x-echo-delay-ms", "5000");
        request.Headers.Add("x-echo-slow-times", "1");
        request.Headers.Add("x-echo-fail-key", key);
        var (_, echo) = await SendOkAsync(request);

        // Without perTryTimeout the first (5 s) try would answer 200 itself, as attempt 1.
        Assert.Equal(2, echo.Attempt);
    }

    [Fact]
    public async Task GatewayPolicy_AppliesToEveryService_RoutePolicyOverridesIt()
    {
        foreach (var (service, expected) in new[] { ("gw-a", "gateway"), ("gw-c", "gateway"), ("gw-b", "route") })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, fixture.Url(service, "/"));
            var (response, echo) = await SendOkAsync(request);
            Assert.Equal($"{service}-0", echo.Pod);
            Assert.Equal(expected, string.Join(",", response.Headers.GetValues("x-mesh-default")));
        }
    }

    [Fact]
    public async Task InvalidTemplate_PolicyStatusNamesTheProblem_TrafficUnaffected()
    {
        var status = Assert.Single(fixture.Rig.LastTranslation!.Policies, p => p.Name == "broken");
        var condition = Assert.Single(Assert.Single(status.Ancestors).Conditions);
        Assert.Equal(("Accepted", "False", "Invalid"), (condition.Type, condition.Status, condition.Reason));
        Assert.Contains("spec.transformation.request.set[0].value: invalid template", condition.Message, StringComparison.Ordinal);
        Assert.Contains(fixture.Rig.LastApply.Problems, p => p.Contains("TrafficPolicy tp/broken", StringComparison.Ordinal));
        var ok = Assert.Single(fixture.Rig.LastTranslation.Policies, p => p.Name == "hdr");
        Assert.Equal("True", Assert.Single(Assert.Single(ok.Ancestors).Conditions).Status);

        foreach (var service in new[] { "broken", "fine" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, fixture.Url(service, "/"));
            request.Headers.Add("x-a", "value");
            var (_, echo) = await SendOkAsync(request);
            Assert.Equal($"{service}-0", echo.Pod);
            Assert.Null(echo.Header("x-bad"));
        }
    }

    private async Task<(HttpResponseMessage Response, EchoReply Echo)> SendOkAsync(HttpRequestMessage request)
    {
        var response = await Client.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{request.Method} {request.RequestUri}: {(int)response.StatusCode} {body}");
        return (response, EchoReply.Parse(body));
    }
}
