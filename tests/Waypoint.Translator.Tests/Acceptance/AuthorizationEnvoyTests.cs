using System.Net;
using Waypoint.TestKit.Http;
using Waypoint.Xds;

namespace Waypoint.Translator.Tests.Acceptance;

/// <summary>
/// What AuthorizationPolicies do on a real waypoint Envoy: requests come through HBONE from a client ztunnel that
/// presents each client workload's own SPIFFE certificate, so the waypoint sees several identities.
/// </summary>
public sealed class AuthorizationEnvoyTests
{
    private const string Client = "spiffe://cluster.local/ns/app/sa/client";
    private const string Other = "spiffe://cluster.local/ns/app/sa/other";
    private const string Ops = "spiffe://cluster.local/ns/ops/sa/deployer";
    private const string OtherVip = "10.96.0.11";
    private const string OtherAuthority = OtherVip + ":80";
    private const string DbAuthority = "10.96.0.12:5432";

    private static string Policy(string name, string body, long generation = 1) => $$"""
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata: {name: {{name}}, namespace: app, generation: {{generation}}}
        spec:
        {{body}}
        ---

        """;

    /// <summary>Two more Services on the same backend: <c>other</c> (HTTP) and <c>db</c> (TCP only).</summary>
    private static string MoreServices(IPEndPoint backend) => $$$"""
        apiVersion: v1
        kind: Service
        metadata: {name: other, namespace: app}
        spec:
          clusterIP: {{{OtherVip}}}
          ports: [{name: http, port: 80, targetPort: {{{backend.Port}}}}]
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {name: other-1, namespace: app, labels: {kubernetes.io/service-name: other}}
        addressType: IPv4
        ports: [{name: http, port: {{{backend.Port}}}}]
        endpoints: [{addresses: ["{{{backend.Address}}}"], conditions: {ready: true}}]
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: db, namespace: app}
        spec:
          clusterIP: 10.96.0.12
          ports: [{name: tcp-db, port: 5432, targetPort: {{{backend.Port}}}}]
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {name: db-1, namespace: app, labels: {kubernetes.io/service-name: db}}
        addressType: IPv4
        ports: [{name: tcp-db, port: {{{backend.Port}}}}]
        endpoints: [{addresses: ["{{{backend.Address}}}"], conditions: {ready: true}}]
        ---

        """;

    private static async Task<HttpStatusCode> StatusAsync(WaypointEnvoyHarness harness, HboneTarget target, HttpMethod method, string path, (string Name, string Value)? header = null)
    {
        using var client = harness.CreateHttpClient(target);
        using var request = new HttpRequestMessage(method, path);
        if (header is { } h)
        {
            request.Headers.Add(h.Name, h.Value);
        }

        using var response = await client.SendAsync(request);
        return response.StatusCode;
    }

    [Fact]
    public async Task Allow_By_Principal_And_Namespace_Admits_Only_Those_Identities_And_Leaves_Other_Services_Open()
    {
        await using var echo = await EchoBackend.StartAsync("echo");
        var policies = Policy("echo-allow", """
              targetRefs: [{kind: Service, group: "", name: echo}]
              rules:
              - from: [{source: {principals: ["cluster.local/ns/app/sa/client"]}}, {source: {namespaces: ["ops"]}}]
            """);
        HboneTarget[] targets =
        [
            new(WaypointEnvoyHarness.EchoAuthority, Client),
            new(WaypointEnvoyHarness.EchoAuthority, Ops),
            new(WaypointEnvoyHarness.EchoAuthority, Other),
            new(OtherAuthority, Other),
        ];
        var (harness, translation) = await WaypointEnvoyHarness.StartAsync(WaypointEnvoyHarness.Mesh(echo.EndPoint, MoreServices(echo.EndPoint) + policies), XdsProtocol.StateOfTheWorld, targets);
        await using var _ = harness;

        Assert.Equal(HttpStatusCode.OK, await StatusAsync(harness, targets[0], HttpMethod.Get, "/"));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(harness, targets[1], HttpMethod.Get, "/"));
        Assert.Equal(HttpStatusCode.Forbidden, await StatusAsync(harness, targets[2], HttpMethod.Get, "/"));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(harness, targets[3], HttpMethod.Get, "/")); // not a target of the policy

        var status = Assert.Single(translation.AuthorizationPolicies);
        var condition = Assert.Single(Assert.Single(status.Ancestors).Conditions);
        Assert.Equal(("WaypointAccepted", "True"), (condition.Type, condition.Status));
    }

    [Fact]
    public async Task Deny_By_Method_And_Path_Wins_Over_Allow_And_A_Header_Condition_Gates_The_Allow()
    {
        await using var echo = await EchoBackend.StartAsync("echo");
        var policies = Policy("echo-deny-admin-writes", """
              targetRefs: [{kind: Service, name: echo}]
              action: DENY
              rules:
              - to: [{operation: {methods: ["POST"], paths: ["/admin*"]}}]
            """) + Policy("echo-allow-keyed", """
              targetRefs: [{kind: Service, name: echo}]
              rules:
              - when: [{key: "request.headers[x-api-key]", values: ["secret"]}]
            """);
        var target = new HboneTarget(WaypointEnvoyHarness.EchoAuthority, Client);
        var (harness, _) = await WaypointEnvoyHarness.StartAsync(WaypointEnvoyHarness.Mesh(echo.EndPoint, policies), XdsProtocol.StateOfTheWorld, target);
        await using var __ = harness;
        var key = ("x-api-key", "secret");

        Assert.Equal(HttpStatusCode.OK, await StatusAsync(harness, target, HttpMethod.Get, "/admin/users", key));
        Assert.Equal(HttpStatusCode.Forbidden, await StatusAsync(harness, target, HttpMethod.Get, "/admin/users"));
        Assert.Equal(HttpStatusCode.Forbidden, await StatusAsync(harness, target, HttpMethod.Post, "/admin/users", key));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(harness, target, HttpMethod.Post, "/orders", key));
    }

    [Fact]
    public async Task Policies_Grouped_Under_A_Path_Prefix_Decide_Each_Request_As_Each_Policy_Alone_Would()
    {
        await using var echo = await EchoBackend.StartAsync("echo");
        var policies = Policy("deny-a", """
              targetRefs: [{kind: Service, name: echo}]
              action: DENY
              rules: [{to: [{operation: {paths: ["/shop-a/*"]}}], when: [{key: "request.headers[x-block]", values: ["yes"]}]}]
            """) + Policy("deny-b", """
              targetRefs: [{kind: Service, name: echo}]
              action: DENY
              rules: [{to: [{operation: {paths: ["/shop-b/*", "/shop-bb"]}}], when: [{key: "request.headers[x-block]", values: ["yes"]}]}]
            """) + Policy("allow-other", """
              targetRefs: [{kind: Service, name: echo}]
              rules: [{from: [{source: {principals: ["cluster.local/ns/app/sa/other"]}}], to: [{operation: {paths: ["/api-1/*"]}}]}]
            """) + Policy("allow-ops", """
              targetRefs: [{kind: Service, name: echo}]
              rules: [{from: [{source: {namespaces: ["ops"]}}], to: [{operation: {paths: ["/api-2/*"]}}]}]
            """) + Policy("allow-client-reads", """
              targetRefs: [{kind: Service, name: echo}]
              rules: [{from: [{source: {principals: ["cluster.local/ns/app/sa/client"]}}], to: [{operation: {methods: [GET]}}]}]
            """);
        HboneTarget client = new(WaypointEnvoyHarness.EchoAuthority, Client), other = new(WaypointEnvoyHarness.EchoAuthority, Other), ops = new(WaypointEnvoyHarness.EchoAuthority, Ops);
        var (harness, translation) = await WaypointEnvoyHarness.StartAsync(WaypointEnvoyHarness.Mesh(echo.EndPoint, policies), XdsProtocol.StateOfTheWorld, client, other, ops);
        await using var _ = harness;
        Assert.All(translation.AuthorizationPolicies, p => Assert.Equal("True", Assert.Single(Assert.Single(p.Ancestors).Conditions).Status));
        var block = ("x-block", "yes");

        // The DENY policies, one group behind /shop-: each member's paths, exact ones without the query, nothing else.
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(harness, client, HttpMethod.Get, "/shop-a/1"));
        Assert.Equal(HttpStatusCode.Forbidden, await StatusAsync(harness, client, HttpMethod.Get, "/shop-a/1", block));
        Assert.Equal(HttpStatusCode.Forbidden, await StatusAsync(harness, client, HttpMethod.Get, "/shop-b/2", block));
        Assert.Equal(HttpStatusCode.Forbidden, await StatusAsync(harness, client, HttpMethod.Get, "/shop-bb?q=1", block));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(harness, client, HttpMethod.Get, "/shop-bbb", block));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(harness, client, HttpMethod.Get, "/shop-c/1", block));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(harness, client, HttpMethod.Get, "/items?path=/shop-a/1", block));

        // The ALLOW policies, the two on /api-… behind that prefix: each admits only its own identity on its own path.
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(harness, other, HttpMethod.Post, "/api-1/x"));
        Assert.Equal(HttpStatusCode.Forbidden, await StatusAsync(harness, other, HttpMethod.Post, "/api-2/x"));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(harness, ops, HttpMethod.Post, "/api-2/x"));
        Assert.Equal(HttpStatusCode.Forbidden, await StatusAsync(harness, ops, HttpMethod.Post, "/api-1/x"));
        Assert.Equal(HttpStatusCode.Forbidden, await StatusAsync(harness, other, HttpMethod.Get, "/items"));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(harness, client, HttpMethod.Get, "/api-1/x"));
        Assert.Equal(HttpStatusCode.Forbidden, await StatusAsync(harness, client, HttpMethod.Post, "/api-1/x"));
    }

    [Fact]
    public async Task HttpRoute_Target_Applies_Only_To_That_Routes_Requests()
    {
        await using var echo = await EchoBackend.StartAsync("echo");
        var routes = """
            apiVersion: gateway.networking.k8s.io/v1
            kind: HTTPRoute
            metadata: {name: echo-admin, namespace: app, generation: 1, creationTimestamp: "2026-01-01T00:00:00Z"}
            spec:
              parentRefs: [{group: "", kind: Service, name: echo, port: 80}]
              rules:
              - matches: [{path: {type: PathPrefix, value: /admin}}]
                backendRefs: [{name: echo, port: 80}]
            ---
            apiVersion: gateway.networking.k8s.io/v1
            kind: HTTPRoute
            metadata: {name: echo, namespace: app, generation: 1, creationTimestamp: "2026-01-01T00:00:01Z"}
            spec:
              parentRefs: [{group: "", kind: Service, name: echo, port: 80}]
              rules:
              - backendRefs: [{name: echo, port: 80}]
            ---

            """;
        var policies = Policy("admin-ops-only", """
              targetRefs: [{kind: HTTPRoute, group: gateway.networking.k8s.io, name: echo-admin}]
              rules:
              - from: [{source: {namespaces: ["ops"]}}]
            """);
        HboneTarget[] targets = [new(WaypointEnvoyHarness.EchoAuthority, Client), new(WaypointEnvoyHarness.EchoAuthority, Ops)];
        var (harness, _) = await WaypointEnvoyHarness.StartAsync(WaypointEnvoyHarness.Mesh(echo.EndPoint, routes + policies), XdsProtocol.StateOfTheWorld, targets);
        await using var __ = harness;

        Assert.Equal(HttpStatusCode.Forbidden, await StatusAsync(harness, targets[0], HttpMethod.Get, "/admin/x"));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(harness, targets[1], HttpMethod.Get, "/admin/x"));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(harness, targets[0], HttpMethod.Get, "/public"));
    }

    /// <summary>
    /// DENY and ALLOW decide in one RBAC engine: the DENY filter holds the DENY policies and "no ALLOW policy matched",
    /// and the ALLOW filter has no config. A port in an ALLOW rule is decided by the chain's port (here 80 matches, 8080
    /// does not). An ALLOW rule on the destination IP has no such form: that service keeps the two-filter decision.
    /// </summary>
    [Fact]
    public async Task One_Engine_Decides_Deny_Then_Allow_And_A_Destination_Ip_Rule_Keeps_Two()
    {
        await using var echo = await EchoBackend.StartAsync("echo");
        var policies = Policy("echo-deny-delete", """
              targetRefs: [{kind: Service, name: echo}]
              action: DENY
              rules: [{to: [{operation: {methods: ["DELETE"]}}]}]
            """) + Policy("echo-allow-client-on-80", """
              targetRefs: [{kind: Service, name: echo}]
              rules: [{from: [{source: {principals: ["cluster.local/ns/app/sa/client"]}}], to: [{operation: {ports: ["80"]}}]}]
            """) + Policy("echo-allow-ops-on-8080", """
              targetRefs: [{kind: Service, name: echo}]
              rules: [{from: [{source: {namespaces: ["ops"]}}], to: [{operation: {ports: ["8080"]}}]}]
            """) + Policy("echo-allow-public", """
              targetRefs: [{kind: Service, name: echo}]
              rules: [{to: [{operation: {paths: ["/public*"], notMethods: ["PUT"]}}]}]
            """) + Policy("other-allow-client-to-vip", $$$"""
              targetRefs: [{kind: Service, name: other}]
              rules: [{from: [{source: {principals: ["cluster.local/ns/app/sa/client"]}}], when: [{key: destination.ip, values: ["{{{OtherVip}}}/32"]}]}]
            """);
        HboneTarget[] targets =
        [
            new(WaypointEnvoyHarness.EchoAuthority, Client),
            new(WaypointEnvoyHarness.EchoAuthority, Ops),
            new(WaypointEnvoyHarness.EchoAuthority, Other),
            new(OtherAuthority, Client),
            new(OtherAuthority, Other),
        ];
        var (harness, translation) = await WaypointEnvoyHarness.StartAsync(WaypointEnvoyHarness.Mesh(echo.EndPoint, MoreServices(echo.EndPoint) + policies), XdsProtocol.StateOfTheWorld, targets);
        await using var _ = harness;

        Assert.Equal(HttpStatusCode.OK, await StatusAsync(harness, targets[0], HttpMethod.Get, "/"));
        Assert.Equal(HttpStatusCode.Forbidden, await StatusAsync(harness, targets[0], HttpMethod.Delete, "/")); // DENY before ALLOW
        Assert.Equal(HttpStatusCode.Forbidden, await StatusAsync(harness, targets[1], HttpMethod.Get, "/")); // its ALLOW is for port 8080
        Assert.Equal(HttpStatusCode.Forbidden, await StatusAsync(harness, targets[2], HttpMethod.Get, "/")); // no ALLOW matches
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(harness, targets[2], HttpMethod.Get, "/public/x"));
        Assert.Equal(HttpStatusCode.Forbidden, await StatusAsync(harness, targets[2], HttpMethod.Put, "/public/x"));
        Assert.Equal(HttpStatusCode.Forbidden, await StatusAsync(harness, targets[2], HttpMethod.Delete, "/public/x"));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(harness, targets[3], HttpMethod.Get, "/"));
        Assert.Equal(HttpStatusCode.Forbidden, await StatusAsync(harness, targets[4], HttpMethod.Get, "/"));

        var routes = translation.Waypoints[new WaypointKey("app", "waypoint")].Routes;
        var echoConfigs = routes.Single(r => r.Name.Contains("echo.app", StringComparison.Ordinal)).VirtualHosts.Single().TypedPerFilterConfig;
        Assert.DoesNotContain(Authorization.AuthorizationFilters.AllowFilter, echoConfigs.Keys);
        var engine = echoConfigs[Authorization.AuthorizationFilters.DenyFilter].Unpack<Envoy.Extensions.Filters.Http.Rbac.V3.RBACPerRoute>().Rbac.Rules;
        Assert.Equal(["ns[app]-policy[echo-deny-delete]-rule[0]", Authorization.AuthorizationFilters.NoAllowMatchedPolicy], engine.Policies.Keys);
        var otherConfigs = routes.Single(r => r.Name.Contains("other.app", StringComparison.Ordinal)).VirtualHosts.Single().TypedPerFilterConfig;
        Assert.Contains(Authorization.AuthorizationFilters.AllowFilter, otherConfigs.Keys);
        Assert.DoesNotContain(Authorization.AuthorizationFilters.DenyFilter, otherConfigs.Keys);
    }

    /// <summary>
    /// A DENY that cannot be compiled denies everything on its target (never allows), with a condition naming the field;
    /// <c>spec: {}</c> on another Service denies everything there; a TCP Service admits only the principal its ALLOW names.
    /// </summary>
    [Fact]
    public async Task Uncompilable_Deny_And_Empty_Spec_Deny_All_And_A_Tcp_Principal_Rule_Admits_Only_That_Principal()
    {
        await using var echo = await EchoBackend.StartAsync("echo");
        var policies = Policy("echo-deny-templated", """
              targetRefs: [{kind: Service, name: echo}]
              action: DENY
              rules:
              - to: [{operation: {paths: ["/users/{*}/secret"]}}]
            """, generation: 3) + Policy("other-nothing", """
              targetRefs: [{kind: Service, name: other}]
            """) + Policy("db-client-only", """
              targetRefs: [{kind: Service, name: db}]
              rules:
              - from: [{source: {principals: ["cluster.local/ns/app/sa/client"]}}]
            """);
        HboneTarget[] targets =
        [
            new(WaypointEnvoyHarness.EchoAuthority, Client),
            new(OtherAuthority, Client),
            new(DbAuthority, Client),
            new(DbAuthority, Other),
        ];
        var (harness, translation) = await WaypointEnvoyHarness.StartAsync(WaypointEnvoyHarness.Mesh(echo.EndPoint, MoreServices(echo.EndPoint) + policies), XdsProtocol.StateOfTheWorld, targets);
        await using var _ = harness;

        Assert.Equal(HttpStatusCode.Forbidden, await StatusAsync(harness, targets[0], HttpMethod.Get, "/anything"));
        Assert.Equal(HttpStatusCode.Forbidden, await StatusAsync(harness, targets[1], HttpMethod.Get, "/"));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(harness, targets[2], HttpMethod.Get, "/")); // HTTP bytes over the TCP chain
        await Assert.ThrowsAsync<HttpRequestException>(() => StatusAsync(harness, targets[3], HttpMethod.Get, "/"));

        var denied = Assert.Single(translation.AuthorizationPolicies, p => p.Name == "echo-deny-templated");
        var condition = Assert.Single(Assert.Single(denied.Ancestors).Conditions);
        Assert.Equal(("WaypointAccepted", "False", "Invalid", 3L), (condition.Type, condition.Status, condition.Reason, condition.ObservedGeneration));
        Assert.Contains("spec.rules[0].to[0].operation.paths", condition.Message, StringComparison.Ordinal);
        Assert.Contains("deny-all", condition.Message, StringComparison.Ordinal);
    }
}

/// <summary>RequestAuthentication and JWT-based rules on a real waypoint Envoy, with tokens the test signs.</summary>
public sealed class JwtAuthorizationEnvoyTests
{
    private const string Issuer = "https://issuer.example.com";

    [Fact]
    public async Task A_Jwt_With_The_Required_Principal_And_Claim_Is_Admitted_Others_Are_Denied_And_A_Bad_Token_Is_Rejected()
    {
        using var key = System.Security.Cryptography.RSA.Create(2048);
        using var stranger = System.Security.Cryptography.RSA.Create(2048);
        var parameters = key.ExportParameters(includePrivateParameters: false);
        var jwks = $$"""{"keys":[{"kty":"RSA","kid":"k1","alg":"RS256","use":"sig","n":"{{Base64Url(parameters.Modulus!)}}","e":"{{Base64Url(parameters.Exponent!)}}"}]}""";
        await using var echo = await EchoBackend.StartAsync("echo");
        var policies = $$$"""
            apiVersion: security.istio.io/v1
            kind: RequestAuthentication
            metadata: {name: echo-jwt, namespace: app, generation: 1}
            spec:
              targetRefs: [{kind: Service, group: "", name: echo}]
              jwtRules:
              - issuer: {{{Issuer}}}
                jwks: '{{{jwks}}}'
            ---
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: echo-admins, namespace: app, generation: 1}
            spec:
              targetRefs: [{kind: Service, group: "", name: echo}]
              rules:
              - from: [{source: {requestPrincipals: ["{{{Issuer}}}/alice"]}}]
                when: [{key: "request.auth.claims[groups]", values: ["admins"]}]
            """;
        var target = new HboneTarget(WaypointEnvoyHarness.EchoAuthority, "spiffe://cluster.local/ns/app/sa/client");
        var (harness, translation) = await WaypointEnvoyHarness.StartAsync(WaypointEnvoyHarness.Mesh(echo.EndPoint, policies), XdsProtocol.StateOfTheWorld, target);
        await using var _ = harness;
        Assert.Equal("True", Assert.Single(Assert.Single(translation.RequestAuthentications).Ancestors.Single().Conditions).Status);

        Assert.Equal(HttpStatusCode.Forbidden, await SendAsync(harness, target, token: null));
        Assert.Equal(HttpStatusCode.OK, await SendAsync(harness, target, Token(key, "alice", ["admins", "dev"])));
        Assert.Equal(HttpStatusCode.Forbidden, await SendAsync(harness, target, Token(key, "alice", ["dev"])));
        Assert.Equal(HttpStatusCode.Forbidden, await SendAsync(harness, target, Token(key, "bob", ["admins"])));
        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(harness, target, Token(stranger, "alice", ["admins"])));
    }

    private static async Task<HttpStatusCode> SendAsync(WaypointEnvoyHarness harness, HboneTarget target, string? token)
    {
        using var client = harness.CreateHttpClient(target);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/");
        if (token is not null)
        {
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        }

        using var response = await client.SendAsync(request);
        return response.StatusCode;
    }

    private static string Token(System.Security.Cryptography.RSA key, string subject, string[] groups)
    {
        var header = Base64Url(System.Text.Encoding.UTF8.GetBytes("""{"alg":"RS256","kid":"k1","typ":"JWT"}"""));
        var payload = Base64Url(System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object>
        {
            ["iss"] = Issuer,
            ["sub"] = subject,
            ["groups"] = groups,
            ["exp"] = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeSeconds(),
        }));
        var signature = key.SignData(System.Text.Encoding.ASCII.GetBytes($"{header}.{payload}"), System.Security.Cryptography.HashAlgorithmName.SHA256, System.Security.Cryptography.RSASignaturePadding.Pkcs1);
        return $"{header}.{payload}.{Base64Url(signature)}";
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
