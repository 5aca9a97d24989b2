using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Waypoint.Local.Echo;

namespace Waypoint.EndToEnd.Tests.Mesh;

/// <summary>Namespace <c>tp</c> (its waypoint for every Service): kgateway TrafficPolicies on the waypoint and on routes.</summary>
internal static class TrafficPolicyMesh
{
    public const string Ns = "tp";

    private static readonly string[] s_services = ["hdr", "b64", "body", "resp", "retry", "slow", "gw-a", "gw-b", "gw-c", "broken", "fine"];

    public static IReadOnlyDictionary<string, string> Files => new Dictionary<string, string>
    {
        ["tp-00-mesh.yaml"] = MeshYaml.Namespace(Ns, waypoint: "waypoint") + MeshYaml.Waypoint("waypoint", Ns),
        ["tp-10-services.yaml"] = string.Concat(s_services.Select(s => MeshYaml.EchoService(s, Ns))),
        ["tp-20-routes.yaml"] = string.Concat(s_services.Where(s => s != "gw-a").Select(s => MeshYaml.Route(s, Ns, $"  - backendRefs: [{{ name: {s}, port: 80 }}]"))),
        ["tp-30-policies.yaml"] = string.Concat(
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

    public static string Url(string service, string pathAndQuery) => $"http://{service}.{Ns}.svc.cluster.local{pathAndQuery}";

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

[Collection(MeshBoxGroup.Name)]
public sealed class TrafficPolicyTests(MeshBoxFixture mesh)
{
    private HttpClient Client => mesh.Client;

    [Fact]
    public async Task RequestHeader_SetFromAnotherHeader()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, TrafficPolicyMesh.Url("hdr", "/"));
        request.Headers.Add("x-source", "from-client");
        var (_, echo) = await SendOkAsync(request);
        Assert.Equal("from-client", echo.Header("x-copied"));
    }

    [Fact]
    public async Task ResponseHeader_FromBase64DecodedRequestHeader_KgatewayExample()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, TrafficPolicyMesh.Url("b64", "/"));
        request.Headers.Add("x-base64-encoded", Convert.ToBase64String(Encoding.UTF8.GetBytes("hello world, waypoint")));
        var (response, _) = await SendOkAsync(request);
        Assert.Equal(", waypoint", string.Join(",", response.Headers.GetValues("x-base64-decoded")));
    }

    [Fact]
    public async Task JsonRequestBodyField_BecomesARequestHeader()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, TrafficPolicyMesh.Url("body", "/users"))
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
        using var response = await Client.GetAsync(TrafficPolicyMesh.Url("resp", "/orders/7"));
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
        using var request = new HttpRequestMessage(HttpMethod.Get, TrafficPolicyMesh.Url("retry", $"/flaky/{key}"));
        request.Headers.Add("x-echo-fail-times", "2");
        request.Headers.Add("x-echo-fail-key", key);
        var (_, echo) = await SendOkAsync(request);
        Assert.Equal(3, echo.Attempt);
        Assert.Equal(3, await mesh.CountLoggedAsync(TrafficPolicyMesh.Ns, "retry-0", "retry", $"/flaky/{key}"));

        // Control: without the policy, Istio's default retry does not retry a 503.
        var control = Guid.NewGuid().ToString("N");
        using var plain = new HttpRequestMessage(HttpMethod.Get, TrafficPolicyMesh.Url("fine", $"/flaky/{control}"));
        plain.Headers.Add("x-echo-fail-times", "2");
        plain.Headers.Add("x-echo-fail-key", control);
        using var failed = await Client.SendAsync(plain);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, failed.StatusCode);
        Assert.Equal(1, await mesh.CountLoggedAsync(TrafficPolicyMesh.Ns, "fine-0", "fine", $"/flaky/{control}"));
    }

    [Fact]
    public async Task PerTryTimeout_CutsASlowAttempt_AndTheRetrySucceeds()
    {
        var key = Guid.NewGuid().ToString("N");
        using var request = new HttpRequestMessage(HttpMethod.Get, TrafficPolicyMesh.Url("slow", "/"));
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
            using var request = new HttpRequestMessage(HttpMethod.Get, TrafficPolicyMesh.Url(service, "/"));
            var (response, echo) = await SendOkAsync(request);
            Assert.Equal($"{service}-0", echo.Pod);
            Assert.Equal(expected, string.Join(",", response.Headers.GetValues("x-mesh-default")));
        }
    }

    [Fact]
    public async Task InvalidTemplate_PolicyStatusNamesTheProblem_TrafficUnaffected()
    {
        // The controller pod wrote the policies' status on the objects in the API server.
        var condition = await AcceptedConditionAsync("broken", c => c?["status"]?.GetValue<string>() == "False");
        Assert.Equal(("False", "Invalid"), (condition["status"]!.GetValue<string>(), condition["reason"]!.GetValue<string>()));
        Assert.Contains("spec.transformation.request.set[0].value: invalid template", condition["message"]!.GetValue<string>(), StringComparison.Ordinal);
        var ok = await AcceptedConditionAsync("hdr", c => c?["status"]?.GetValue<string>() == "True");
        Assert.Equal("True", ok["status"]!.GetValue<string>());

        foreach (var service in new[] { "broken", "fine" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, TrafficPolicyMesh.Url(service, "/"));
            request.Headers.Add("x-a", "value");
            var (_, echo) = await SendOkAsync(request);
            Assert.Equal($"{service}-0", echo.Pod);
            Assert.Null(echo.Header("x-bad"));
        }
    }

    /// <summary>The policy's one ancestor's Accepted condition, once the controller has written one that <paramref name="settled"/>.</summary>
    private async Task<JsonNode> AcceptedConditionAsync(string policy, Func<JsonNode?, bool> settled)
    {
        JsonNode? found = null;
        JsonNode? last = null;
        await MeshBoxFixture.EventuallyAsync(async () =>
        {
            last = await mesh.GetAsync("gateway.kgateway.dev/v1alpha1", TrafficPolicyMesh.Ns, "trafficpolicies", policy);
            var ancestors = last["status"]?["ancestors"]?.AsArray() ?? [];
            found = ancestors.Count == 1 ? (ancestors[0]?["conditions"]?.AsArray() ?? []).SingleOrDefault(c => c?["type"]?.GetValue<string>() == "Accepted") : null;
            return found is not null && settled(found);
        }, () => Task.FromResult($"TrafficPolicy tp/{policy} has no settled Accepted condition: {last?["status"]?.ToJsonString()}"));
        return found!;
    }

    private async Task<(HttpResponseMessage Response, EchoReply Echo)> SendOkAsync(HttpRequestMessage request)
    {
        var response = await Client.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{request.Method} {request.RequestUri}: {(int)response.StatusCode} {body}");
        return (response, EchoReply.Parse(body));
    }
}
