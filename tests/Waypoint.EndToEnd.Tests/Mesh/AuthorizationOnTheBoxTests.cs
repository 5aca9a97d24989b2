using System.Net;
using System.Text.Json.Nodes;
using Waypoint.Local.Echo;

namespace Waypoint.EndToEnd.Tests.Mesh;

/// <summary>
/// Namespace <c>authz</c> (its waypoint for every Service), one echo Service per case so that cases do not see each
/// other's policies, and two callers: echo pods of ServiceAccount <c>caller-a</c> in namespace <c>authz-a</c> and of
/// <c>caller-b</c> in <c>authz-b</c> (ambient, no waypoint of their own).
/// </summary>
internal static class AuthorizationMesh
{
    public const string Ns = "authz";

    public static (string Namespace, string Pod, string Principal) CallerA { get; } = ("authz-a", "caller-a-0", "cluster.local/ns/authz-a/sa/caller-a");

    public static (string Namespace, string Pod, string Principal) CallerB { get; } = ("authz-b", "caller-b-0", "cluster.local/ns/authz-b/sa/caller-b");

    /// <summary>The last one is the fixture's canary for the namespace.</summary>
    public static IReadOnlyList<string> Services { get; } = ["by-principal", "by-namespace", "deny", "when", "broken"];

    public static IReadOnlyDictionary<string, string> Files => new Dictionary<string, string>
    {
        ["authz-00-mesh.yaml"] = MeshYaml.Namespace(Ns, waypoint: "waypoint") + MeshYaml.Waypoint("waypoint", Ns)
            + string.Concat(Services.Select(s => MeshYaml.EchoService(s, Ns))),
        ["authz-01-callers.yaml"] = MeshYaml.Namespace(CallerA.Namespace) + MeshYaml.EchoService("caller-a", CallerA.Namespace)
            + MeshYaml.Namespace(CallerB.Namespace) + MeshYaml.EchoService("caller-b", CallerB.Namespace),
    };

    public static string Url(string service, string pathAndQuery = "/") => $"http://{service}.{Ns}.svc.cluster.local{pathAndQuery}";

    /// <summary>An AuthorizationPolicy on one Service of the namespace (<paramref name="spec"/>: the lines after <c>targetRefs</c>, indented by 2).</summary>
    public static string Policy(string name, string service, string spec) => $$"""
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: {{name}}
          namespace: {{Ns}}
        spec:
          targetRefs: [{ group: "", kind: Service, name: {{service}} }]
        {{spec}}
        ---

        """;
}

/// <summary>
/// Istio AuthorizationPolicies through the whole box: written into the directory <c>waypoint local</c> server-side
/// applies, translated by the controller pod, enforced by the waypoint's Envoy, with requests sent from two different
/// pods' network namespaces. The node's ztunnel opens each pod's HBONE tunnel with that pod's own certificate, so an
/// ALLOW by principal that admits one caller and refuses the other shows the identity on the wire is the pod's.
/// Each case polls (with a safety limit) until the policy's effect shows, then asserts both callers' answers.
/// </summary>
[Collection(MeshBoxGroup.Name)]
public sealed class AuthorizationOnTheBoxTests(MeshBoxFixture mesh) : IDisposable
{
    private const string Denied = "RBAC: access denied";
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(20);
    private readonly HttpClient _callerA = mesh.CreatePodHttpClient(AuthorizationMesh.CallerA.Namespace, AuthorizationMesh.CallerA.Pod, s_timeout);
    private readonly HttpClient _callerB = mesh.CreatePodHttpClient(AuthorizationMesh.CallerB.Namespace, AuthorizationMesh.CallerB.Pod, s_timeout);

    public void Dispose()
    {
        _callerA.Dispose();
        _callerB.Dispose();
    }

    [Fact]
    public async Task AllowByPrincipal_CallerAIsServed_CallerBIsDenied()
    {
        var url = AuthorizationMesh.Url("by-principal", "/who");
        await AssertServedAsync(_callerB, url, "without a policy");
        await WithPolicyAsync("authz-50-by-principal.yaml", AuthorizationMesh.Policy("by-principal", "by-principal", $$"""
              action: ALLOW
              rules:
              - from: [{ source: { principals: ["{{AuthorizationMesh.CallerA.Principal}}"] } }]
            """), async () =>
        {
            await EventuallyDeniedAsync(_callerB, url);
            var echo = await AssertServedAsync(_callerA, url, "as the allowed principal");
            Assert.Equal("by-principal-0", echo.Pod);
        });
    }

    [Fact]
    public async Task AllowByNamespace_CallerBIsServed_CallerAIsDenied()
    {
        var url = AuthorizationMesh.Url("by-namespace", "/ns");
        await AssertServedAsync(_callerA, url, "without a policy");
        await WithPolicyAsync("authz-51-by-namespace.yaml", AuthorizationMesh.Policy("by-namespace", "by-namespace", $$"""
              action: ALLOW
              rules:
              - from: [{ source: { namespaces: ["{{AuthorizationMesh.CallerB.Namespace}}"] } }]
            """), async () =>
        {
            await EventuallyDeniedAsync(_callerA, url);
            await AssertServedAsync(_callerB, url, "from the allowed namespace");
        });
    }

    [Fact]
    public async Task DenyByMethodAndByPath_OnlyThoseRequestsAreDenied()
    {
        await WithPolicyAsync("authz-52-deny.yaml", AuthorizationMesh.Policy("deny", "deny", """
              action: DENY
              rules:
              - to: [{ operation: { methods: [DELETE] } }]
              - to: [{ operation: { paths: ["/admin/*"] } }]
            """), async () =>
        {
            await EventuallyDeniedAsync(_callerA, AuthorizationMesh.Url("deny", "/admin/users"));
            await AssertDeniedAsync(_callerB, HttpMethod.Get, AuthorizationMesh.Url("deny", "/admin/users"));
            await AssertDeniedAsync(_callerA, HttpMethod.Delete, AuthorizationMesh.Url("deny", "/items/1"));
            var echo = await AssertServedAsync(_callerA, AuthorizationMesh.Url("deny", "/items/1"), "a GET outside /admin/");
            Assert.Equal("GET", echo.Method);
            using var put = await SendAsync(_callerB, HttpMethod.Put, AuthorizationMesh.Url("deny", "/items/1"));
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        });
    }

    [Fact]
    public async Task AllowWhenHeader_OnlyRequestsWithThatHeaderValueAreServed()
    {
        var url = AuthorizationMesh.Url("when", "/team");
        await WithPolicyAsync("authz-53-when.yaml", AuthorizationMesh.Policy("when", "when", """
              action: ALLOW
              rules:
              - when: [{ key: "request.headers[x-team]", values: [blue] }]
            """), async () =>
        {
            await EventuallyDeniedAsync(_callerA, url);
            await AssertDeniedAsync(_callerA, HttpMethod.Get, url, ("x-team", "red"));
            using var blue = await SendAsync(_callerB, HttpMethod.Get, url, ("x-team", "blue"));
            Assert.Equal(HttpStatusCode.OK, blue.StatusCode);
            Assert.Equal("blue", EchoReply.Parse(await blue.Content.ReadAsStringAsync()).Header("x-team"));
        });
    }

    [Fact]
    public async Task DenyPolicyThatCannotBeCompiled_DeniesEverything_AndItsStatusSaysWhy()
    {
        var url = AuthorizationMesh.Url("broken", "/anything");
        await AssertServedAsync(_callerA, url, "without a policy");
        await WithPolicyAsync("authz-54-broken.yaml", AuthorizationMesh.Policy("broken", "broken", """
              action: DENY
              rules:
              - to: [{ operation: { paths: ["/items/{*}/secret"] } }]
            """), async () =>
        {
            // Failing closed: Istio accepts the path template, we cannot compile it yet, and a DENY we cannot compile may
            // not let anything through, so the whole policy becomes deny-all.
            await EventuallyDeniedAsync(_callerA, url);
            await AssertDeniedAsync(_callerB, HttpMethod.Get, url);

            JsonNode? policy = null;
            JsonNode? condition = null;
            await MeshBoxFixture.EventuallyAsync(async () =>
            {
                policy = await mesh.GetAsync("security.istio.io/v1", AuthorizationMesh.Ns, "authorizationpolicies", "broken");
                condition = (policy["status"]?["ancestors"]?.AsArray() ?? []).SelectMany(a => a?["conditions"]?.AsArray() ?? [])
                    .FirstOrDefault(c => c?["type"]?.GetValue<string>() == "WaypointAccepted");
                return condition?["status"]?.GetValue<string>() == "False";
            }, () => Task.FromResult($"AuthorizationPolicy authz/broken never had WaypointAccepted=False: {policy?["status"]?.ToJsonString()}"));
            Assert.Equal("Invalid", condition!["reason"]!.GetValue<string>());
            var message = condition["message"]!.GetValue<string>();
            Assert.Contains("spec.rules[0].to[0].operation.paths", message, StringComparison.Ordinal);
            Assert.Contains("path templates", message, StringComparison.Ordinal);
            Assert.Contains("deny-all", message, StringComparison.Ordinal);

            // Only its target: another Service of the same waypoint is untouched.
            await AssertServedAsync(_callerA, AuthorizationMesh.Url("by-namespace", "/still-served"), "on a Service the broken policy does not target");
        });
    }

    /// <summary>Writes the policy file, runs the case, then deletes the file (pruned by <c>waypoint local</c>).</summary>
    private async Task WithPolicyAsync(string file, string yaml, Func<Task> body)
    {
        var path = Path.Combine(mesh.Directory, file);
        await File.WriteAllTextAsync(path, yaml);
        try
        {
            await body();
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static async Task<HttpResponseMessage> SendAsync(HttpClient caller, HttpMethod method, string url, params (string Name, string Value)[] headers)
    {
        using var request = new HttpRequestMessage(method, url);
        foreach (var (name, value) in headers)
        {
            request.Headers.Add(name, value);
        }

        return await caller.SendAsync(request);
    }

    private static async Task<EchoReply> AssertServedAsync(HttpClient caller, string url, string what)
    {
        using var response = await SendAsync(caller, HttpMethod.Get, url);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{url} {what}: {(int)response.StatusCode} {body}");
        Assert.Contains("envoy", response.Headers.Server.ToString(), StringComparison.Ordinal);
        return EchoReply.Parse(body);
    }

    private static async Task AssertDeniedAsync(HttpClient caller, HttpMethod method, string url, params (string Name, string Value)[] headers)
    {
        using var response = await SendAsync(caller, method, url, headers);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Forbidden && body == Denied, $"{method} {url}: expected 403 {Denied}, got {(int)response.StatusCode} {body}");
    }

    /// <summary>Polls until the waypoint denies the request (the policy reached it), then checks it is the RBAC filter's answer.</summary>
    private static async Task EventuallyDeniedAsync(HttpClient caller, string url)
    {
        var last = "";
        await MeshBoxFixture.EventuallyAsync(async () =>
        {
            using var response = await SendAsync(caller, HttpMethod.Get, url);
            last = $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
            return response.StatusCode == HttpStatusCode.Forbidden;
        }, () => Task.FromResult($"{url} was never denied; last answer: {last}"));
        await AssertDeniedAsync(caller, HttpMethod.Get, url);
    }
}
