using System.Net;
using System.Net.Sockets;
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
    public static IReadOnlyList<string> Services { get; } = ["by-principal", "by-namespace", "deny", "when", "jwt", "claims", "routed", "custom", "broken"];

    /// <summary>The TCP echo Service (port 9000, no HTTP) of the TCP principal case.</summary>
    public const string TcpService = "tcp";

    public const int TcpPort = 9000;

    public static IReadOnlyDictionary<string, string> Files => new Dictionary<string, string>
    {
        ["authz-00-mesh.yaml"] = MeshYaml.Namespace(Ns, waypoint: "waypoint") + MeshYaml.Waypoint("waypoint", Ns)
            + string.Concat(Services.Select(s => MeshYaml.EchoService(s, Ns)))
            + MeshYaml.EchoService(TcpService, Ns, port: TcpPort, portName: "tcp-echo", tcp: true),
        ["authz-01-callers.yaml"] = MeshYaml.Namespace(CallerA.Namespace) + MeshYaml.EchoService("caller-a", CallerA.Namespace)
            + MeshYaml.Namespace(CallerB.Namespace) + MeshYaml.EchoService("caller-b", CallerB.Namespace),

        // Two HTTPRoutes on one Service, for the HTTPRoute-targeted policy: each adds a response header naming itself.
        ["authz-02-routes.yaml"] = MeshYaml.Route("routed", Ns, RouteRules("/guarded", "guarded"), name: "routed-guarded")
            + MeshYaml.Route("routed", Ns, RouteRules("/open", "open"), name: "routed-open"),
    };

    private static string RouteRules(string prefix, string route) => $$"""
          - matches: [{ path: { type: PathPrefix, value: {{prefix}} } }]
            filters:
            - type: ResponseHeaderModifier
              responseHeaderModifier:
                add: [{ name: x-route, value: {{route}} }]
            backendRefs: [{ name: routed, port: 80 }]
        """;

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

    [Fact]
    public async Task Jwt_RequiredThroughRequestPrincipals_AndAClaimMatch()
    {
        using var issuer = new TestJwtIssuer("https://issuer.authz.test", "box-key");
        var jwt = AuthorizationMesh.Url("jwt", "/token");
        var claims = AuthorizationMesh.Url("claims", "/group");
        await AssertServedAsync(_callerA, jwt, "without a policy");
        var yaml = $$"""
            apiVersion: security.istio.io/v1
            kind: RequestAuthentication
            metadata:
              name: jwt
              namespace: {{AuthorizationMesh.Ns}}
            spec:
              targetRefs: [{ group: "", kind: Service, name: jwt }, { group: "", kind: Service, name: claims }]
              jwtRules:
              - issuer: {{issuer.Issuer}}
                jwks: '{{issuer.Jwks}}'
            ---

            """ + AuthorizationMesh.Policy("jwt", "jwt", """
              action: ALLOW
              rules:
              - from: [{ source: { requestPrincipals: ["*"] } }]
            """) + AuthorizationMesh.Policy("claims", "claims", """
              action: ALLOW
              rules:
              - when: [{ key: "request.auth.claims[group]", values: [blue] }]
            """);
        var good = Bearer(issuer.Token("alice", ("group", "blue")));
        await WithPolicyAsync("authz-55-jwt.yaml", yaml, async () =>
        {
            // requestPrincipals ["*"]: a token is required, and it must validate.
            await EventuallyDeniedAsync(_callerA, jwt);
            await EventuallyServedAsync(_callerA, jwt, good);
            using (var served = await SendAsync(_callerB, HttpMethod.Get, jwt, good))
            {
                var body = await served.Content.ReadAsStringAsync();
                Assert.True(served.StatusCode == HttpStatusCode.OK, $"caller-b with a good token: {(int)served.StatusCode} {body}");
                // forwardOriginalToken is false by default: jwt_authn removes the token before the backend.
                Assert.Null(EchoReply.Parse(body).Header("authorization"));
            }

            await AssertDeniedAsync(_callerB, HttpMethod.Get, jwt);
            using (var forged = await SendAsync(_callerA, HttpMethod.Get, jwt, Bearer(issuer.TokenWithBadSignature("alice"))))
            {
                var body = await forged.Content.ReadAsStringAsync();
                Assert.True(forged.StatusCode == HttpStatusCode.Unauthorized && body.Contains("Jwt verification fails", StringComparison.Ordinal),
                    $"a token with a bad signature: expected 401 Jwt verification fails, got {(int)forged.StatusCode} {body}");
            }

            // request.auth.claims[group]: the right claim is served, another value or no token is denied.
            await EventuallyServedAsync(_callerB, claims, good);
            await AssertDeniedAsync(_callerB, HttpMethod.Get, claims, Bearer(issuer.Token("bob", ("group", "red"))));
            await AssertDeniedAsync(_callerA, HttpMethod.Get, claims);
            using var blue = await SendAsync(_callerA, HttpMethod.Get, claims, Bearer(issuer.Token("carol", ("group", "blue"))));
            Assert.Equal(HttpStatusCode.OK, blue.StatusCode);
        });
    }

    [Fact]
    public async Task HttpRouteTargetedPolicy_AppliesOnlyToThatRoutesRequests()
    {
        var guarded = AuthorizationMesh.Url("routed", "/guarded/page");
        var open = AuthorizationMesh.Url("routed", "/open/page");
        // Both HTTPRoutes serve before the policy (their response header names the route).
        await EventuallyRoutedAsync(_callerB, guarded, "guarded");
        await EventuallyRoutedAsync(_callerB, open, "open");
        await WithPolicyAsync("authz-56-route.yaml", $$"""
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata:
              name: routed-guarded
              namespace: {{AuthorizationMesh.Ns}}
            spec:
              targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: routed-guarded }]
              action: ALLOW
              rules:
              - from: [{ source: { principals: ["{{AuthorizationMesh.CallerA.Principal}}"] } }]
            ---

            """, async () =>
        {
            await EventuallyDeniedAsync(_callerB, guarded);
            await EventuallyRoutedAsync(_callerA, guarded, "guarded");
            // The Service's other HTTPRoute is not affected: caller-b is still served there.
            await EventuallyRoutedAsync(_callerB, open, "open");
            await AssertDeniedAsync(_callerB, HttpMethod.Get, guarded);
        });
    }

    [Fact]
    public async Task TcpServiceWithAPrincipalRule_CallerAExchangesBytes_CallerBIsClosed()
    {
        Assert.Equal($"{AuthorizationMesh.Ns}/waypoint", mesh.Service(AuthorizationMesh.Ns, AuthorizationMesh.TcpService).Waypoint);
        var expected = $"{AuthorizationMesh.TcpService}-0.{AuthorizationMesh.Ns} hello";
        Assert.Equal(expected, await TcpExchangeAsync(AuthorizationMesh.CallerB, "hello"));
        await WithPolicyAsync("authz-57-tcp.yaml", AuthorizationMesh.Policy("tcp", AuthorizationMesh.TcpService, $$"""
              action: ALLOW
              rules:
              - from: [{ source: { principals: ["{{AuthorizationMesh.CallerA.Principal}}"] } }]
            """), async () =>
        {
            var last = "";
            await MeshBoxFixture.EventuallyAsync(async () => (last = await TcpExchangeAsync(AuthorizationMesh.CallerB, "hello")) is null,
                () => Task.FromResult($"caller-b's connection to the TCP Service was never closed; last answer: {last}"));
            Assert.Equal(expected, await TcpExchangeAsync(AuthorizationMesh.CallerA, "hello"));
            Assert.Null(await TcpExchangeAsync(AuthorizationMesh.CallerB, "again"));
        });
    }

    [Fact]
    public async Task CustomExtAuthz_AllowedDeniedWithTheServersAnswer_ServerDownDenied()
    {
        await using var server = BoxExtAuthzServer.Start(mesh.Connection.Network);
        var url = AuthorizationMesh.Url("custom", "/checked/item");
        var free = AuthorizationMesh.Url("custom", "/free/item");
        await AssertServedAsync(_callerA, url, "without a policy");
        var yaml = $$"""
            apiVersion: v1
            kind: ConfigMap
            metadata:
              name: istio
              namespace: istio-system
            data:
              mesh: |-
                extensionProviders:
                - name: box-ext-authz
                  envoyExtAuthzHttp:
                    service: "{{server.EndPoint.Address}}"
                    port: "{{server.EndPoint.Port}}"
                    timeout: 5s
                    includeRequestHeadersInCheck: [x-ext-authz]
                    headersToUpstreamOnAllow: [x-ext-authz-user]
                    headersToDownstreamOnDeny: [x-ext-authz-reason, content-type]
            ---

            """ + AuthorizationMesh.Policy("custom", "custom", """
              action: CUSTOM
              provider: { name: box-ext-authz }
              rules:
              - to: [{ operation: { paths: ["/checked/*"] } }]
            """);
        await WithPolicyAsync("authz-58-custom.yaml", yaml, async () =>
        {
            // Denied: the server's status, its allowed headers and its body reach the caller.
            var last = "";
            await MeshBoxFixture.EventuallyAsync(async () =>
            {
                using var response = await SendAsync(_callerB, HttpMethod.Get, url);
                last = $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
                return (int)response.StatusCode == BoxExtAuthzServer.DeniedStatus;
            }, () => Task.FromResult($"{url} was never denied by the ext_authz server; last answer: {last}; checks: {server.Checks.Count}"));
            using (var denied = await SendAsync(_callerB, HttpMethod.Get, url, ("x-ext-authz", "deny")))
            {
                Assert.Equal(BoxExtAuthzServer.DeniedStatus, (int)denied.StatusCode);
                Assert.Equal(BoxExtAuthzServer.DeniedBody, await denied.Content.ReadAsStringAsync());
                Assert.Equal("verdict-deny", Assert.Single(denied.Headers.GetValues("x-ext-authz-reason")));
                Assert.False(denied.Headers.Contains("x-not-forwarded"), "a header the provider does not list reached the caller");
            }

            // caller-a's connection was opened before the policy: adding the first CUSTOM policy of a provider changes the
            // service's filter chain (the ext_authz filter is inserted), and Envoy serves a connection of the previous chain,
            // which has no ext_authz filter, until it drains it (--drain-strategy immediate: the answer says
            // "connection: close"). Such answers are counted and printed; then every request must be checked.
            var bypassed = new List<string>();
            await MeshBoxFixture.EventuallyAsync(async () =>
            {
                using var response = await SendAsync(_callerA, HttpMethod.Get, url, ("x-ext-authz", "allow"));
                var body = await response.Content.ReadAsStringAsync();
                if (response.StatusCode == HttpStatusCode.OK && EchoReply.Parse(body).Header("x-ext-authz-user") == "box-ext-authz-approved")
                {
                    return true;
                }

                bypassed.Add($"{(int)response.StatusCode} connection: {response.Headers.Connection}");
                return false;
            }, () => Task.FromResult($"{url} allowed by the server never reached the backend with x-ext-authz-user; answers: {string.Join("; ", bypassed)}"));
            Console.WriteLine($"ext_authz on the box: {bypassed.Count} answer(s) on a connection from before the CUSTOM policy came without the check: {string.Join("; ", bypassed)}");

            // Allowed: the listed header the server added reaches the backend; the check carried the request's header.
            using (var allowed = await SendAsync(_callerA, HttpMethod.Get, url, ("x-ext-authz", "allow")))
            {
                var body = await allowed.Content.ReadAsStringAsync();
                Assert.True(allowed.StatusCode == HttpStatusCode.OK, $"allowed by the server: {(int)allowed.StatusCode} {body}");
                var echo = EchoReply.Parse(body);
                Assert.Equal("custom-0", echo.Pod);
                Assert.Equal("box-ext-authz-approved", echo.Header("x-ext-authz-user"));
                Assert.Null(echo.Header("x-not-forwarded"));
            }

            Assert.Contains(server.Checks, c => c.Path == "/checked/item" && c.Headers.TryGetValue("x-ext-authz", out var v) && v == "allow");

            // A request the CUSTOM rules do not select is never checked.
            var checks = server.Checks.Count;
            await AssertServedAsync(_callerB, free, "outside the CUSTOM rules");
            Assert.Equal(checks, server.Checks.Count);

            // Server down: the check cannot be made, so the request is denied (statusOnError, 403 by default).
            await server.StopAsync();
            await MeshBoxFixture.EventuallyAsync(async () =>
            {
                using var response = await SendAsync(_callerA, HttpMethod.Get, url, ("x-ext-authz", "allow"));
                last = $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
                return response.StatusCode == HttpStatusCode.Forbidden;
            }, () => Task.FromResult($"{url} with the ext_authz server down was never denied; last answer: {last}"));
            using var down = await SendAsync(_callerB, HttpMethod.Get, url, ("x-ext-authz", "allow"));
            Assert.Equal(HttpStatusCode.Forbidden, down.StatusCode);
            Assert.NotEqual(BoxExtAuthzServer.DeniedBody, await down.Content.ReadAsStringAsync());
            await AssertServedAsync(_callerA, free, "outside the CUSTOM rules, with the server down");
        });
    }

    /// <summary>
    /// Opens a TCP connection from the caller's pod to the TCP Service, sends a line and reads the echo's answer; null
    /// when the connection is closed or reset without one (what the waypoint's network RBAC does to a refused peer).
    /// </summary>
    private async Task<string?> TcpExchangeAsync((string Namespace, string Pod, string Principal) caller, string line)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        try
        {
            using var socket = await mesh.ConnectFromPodAsync(caller.Namespace, caller.Pod, $"{AuthorizationMesh.TcpService}.{AuthorizationMesh.Ns}.svc.cluster.local", AuthorizationMesh.TcpPort, cts.Token);
            await using var stream = new NetworkStream(socket);
            using var reader = new StreamReader(stream, System.Text.Encoding.UTF8);
            await stream.WriteAsync(System.Text.Encoding.UTF8.GetBytes(line + "\n"), cts.Token);
            return await reader.ReadLineAsync(cts.Token);
        }
        catch (Exception ex) when (ex is IOException or SocketException)
        {
            return null;
        }
        catch (OperationCanceledException)
        {
            return "(no answer in 15 s)";
        }
    }

    private static (string Name, string Value) Bearer(string token) => ("authorization", $"Bearer {token}");

    private static async Task EventuallyServedAsync(HttpClient caller, string url, params (string Name, string Value)[] headers)
    {
        var last = "";
        await MeshBoxFixture.EventuallyAsync(async () =>
        {
            using var response = await SendAsync(caller, HttpMethod.Get, url, headers);
            last = $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
            return response.StatusCode == HttpStatusCode.OK;
        }, () => Task.FromResult($"{url} was never served; last answer: {last}"));
    }

    /// <summary>Polls until <paramref name="url"/> is served with the response header <c>x-route</c> of <paramref name="route"/>.</summary>
    private static async Task EventuallyRoutedAsync(HttpClient caller, string url, string route)
    {
        var last = "";
        await MeshBoxFixture.EventuallyAsync(async () =>
        {
            using var response = await SendAsync(caller, HttpMethod.Get, url);
            last = $"{(int)response.StatusCode} x-route={string.Join(',', response.Headers.TryGetValues("x-route", out var v) ? v : [])} {await response.Content.ReadAsStringAsync()}";
            return response.StatusCode == HttpStatusCode.OK && response.Headers.TryGetValues("x-route", out var values) && values.Contains(route);
        }, () => Task.FromResult($"{url} was never served by the HTTPRoute {route}; last answer: {last}"));
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

    /// <summary>
    /// Polls on fresh connections until the waypoint denies the request (the policy reached it), then asks again on
    /// <paramref name="caller"/>'s pooled connection, opened before the policy: it must be denied too. When a policy
    /// change also changed the service's filter chain, that connection belongs to the chain Envoy drains; were that chain
    /// without the RBAC filters, it would still be served there, unchecked, until drained.
    /// </summary>
    private async Task EventuallyDeniedAsync(HttpClient caller, string url)
    {
        var (ns, pod, _) = ReferenceEquals(caller, _callerA) ? AuthorizationMesh.CallerA : AuthorizationMesh.CallerB;
        var last = "";
        var before = new List<string>();
        await MeshBoxFixture.EventuallyAsync(async () =>
        {
            using var fresh = mesh.CreatePodHttpClient(ns, pod, s_timeout);
            using var response = await SendAsync(fresh, HttpMethod.Get, url);
            last = $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
            if (response.StatusCode != HttpStatusCode.Forbidden)
            {
                before.Add($"{(int)response.StatusCode}");
            }

            return response.StatusCode == HttpStatusCode.Forbidden;
        }, () => Task.FromResult($"{url} was never denied; last answer: {last}"));
        Console.WriteLine($"authorization on the box: {url}: {before.Count} answer(s) before the denial");
        await AssertDeniedAsync(fresh: false, caller, url);
    }

    private static async Task AssertDeniedAsync(bool fresh, HttpClient caller, string url)
    {
        using var response = await SendAsync(caller, HttpMethod.Get, url);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Forbidden && body == Denied,
            $"GET {url} on {(fresh ? "a new" : "the caller's pooled")} connection once the policy denied a new one: expected 403 {Denied}, got {(int)response.StatusCode} {body}{(response.Headers.ConnectionClose == true ? " (connection: close, from a draining filter chain)" : "")}");
    }
}
