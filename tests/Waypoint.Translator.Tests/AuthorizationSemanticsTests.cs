using Envoy.Config.Rbac.V3;
using Envoy.Extensions.Filters.Http.Rbac.V3;
using Waypoint.Translator.Authorization;
using Waypoint.Translator.Model;
using static Waypoint.Translator.Tests.TranslatorTestData;

namespace Waypoint.Translator.Tests;

/// <summary>AuthorizationPolicy semantics the goldens do not spell out: caching, edits, TCP subset, names, limits.</summary>
public sealed class AuthorizationSemanticsTests
{
    private static readonly WaypointKey Key = new("app", "waypoint");

    private static string Policy(string name, string body) => $"""

        ---
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata: {"{"}name: {name}, namespace: app, generation: 1{"}"}
        spec:
        {body}
        """;

    private static V1AuthorizationPolicy Parse(string body) =>
        (V1AuthorizationPolicy)KubernetesObjectLoader.Load(Policy("p", body).TrimStart('\n', '-')).Objects.Single();

    [Fact]
    public void A_Policy_Edit_Changes_Only_The_RouteConfiguration_Never_The_Listener()
    {
        var translator = new WaypointTranslator();
        var first = translator.Translate(Load(Base + Service("echo", "10.0.0.1") + Policy("p", """
              targetRefs: [{kind: Service, name: echo}]
              action: DENY
              rules: [{to: [{operation: {methods: [POST]}}]}]
            """)));
        var second = translator.Translate(Load(Base + Service("echo", "10.0.0.1") + Policy("p", """
              targetRefs: [{kind: Service, name: echo}]
              action: DENY
              rules: [{to: [{operation: {methods: [DELETE]}}]}]
            """)));

        var before = first.Waypoints[Key];
        var after = second.Waypoints[Key];
        Assert.Same(MainInternalListener(before), MainInternalListener(after));
        Assert.NotEqual(before.Routes.Single(), after.Routes.Single());
        var deny = after.Routes.Single().VirtualHosts.Single().TypedPerFilterConfig[AuthorizationFilters.DenyFilter].Unpack<RBACPerRoute>();
        Assert.Equal("DELETE", deny.Rbac.Rules.Policies.Single().Value.Permissions.Single().Header.StringMatch.Exact);
    }

    [Fact]
    public void A_Mesh_Config_Edit_Recompiles_The_Custom_Policies_That_Name_The_Provider()
    {
        static string Mesh(int port) => $$"""

            ---
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: istio, namespace: istio-system}
            data:
              mesh: |
                extensionProviders:
                - name: authz
                  envoyExtAuthzHttp: {service: authz.example.com, port: {{port}}}
            """;
        var custom = Policy("p", """
              targetRefs: [{kind: Service, name: echo}]
              action: CUSTOM
              provider: {name: authz}
              rules: [{to: [{operation: {paths: ["/admin*"]}}]}]
            """);
        var translator = new WaypointTranslator();
        var first = translator.Translate(Load(Base + Service("echo", "10.0.0.1") + custom + Mesh(8000)));
        var second = translator.Translate(Load(Base + Service("echo", "10.0.0.1") + custom + Mesh(9000)));
        var gone = translator.Translate(Load(Base + Service("echo", "10.0.0.1") + custom));

        Assert.Contains(first.Waypoints[Key].Clusters, c => c.Name == "ext-authz|authz.example.com|8000");
        Assert.Contains(second.Waypoints[Key].Clusters, c => c.Name == "ext-authz|authz.example.com|9000");
        Assert.DoesNotContain(second.Waypoints[Key].Clusters, c => c.Name == "ext-authz|authz.example.com|8000");
        Assert.Contains("ext-authz|authz.example.com|9000", EnvoyJson.Format(second.Waypoints[Key].Listeners.Single(l => l.Name == "main_internal")), StringComparison.Ordinal);
        Assert.Equal("True", second.AuthorizationPolicies.Single().Ancestors.Single().Conditions.Single().Status);

        // The ConfigMap deleted: the provider is unknown, so the policy denies (and says why).
        var condition = gone.AuthorizationPolicies.Single().Ancestors.Single().Conditions.Single();
        Assert.Equal("False", condition.Status);
        Assert.Contains("no mesh config (ConfigMap istio-system/istio not found)", condition.Message, StringComparison.Ordinal);
        Assert.True(gone.Waypoints[Key].Routes.Single().VirtualHosts.Single().TypedPerFilterConfig.ContainsKey(AuthorizationFilters.DenyFilter));
        Assert.DoesNotContain(gone.Waypoints[Key].Clusters, c => c.Name.StartsWith("ext-authz|", StringComparison.Ordinal));
    }

    [Fact]
    public void A_Custom_Policy_On_A_Tcp_Service_Denies_The_Connections_Its_Rules_Select()
    {
        var mesh = """

            ---
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: istio, namespace: istio-system}
            data:
              mesh: |
                extensionProviders:
                - name: authz
                  envoyExtAuthzGrpc: {service: authz.example.com, port: 9000}
            """;
        var policy = AuthorizationPolicyCompiler.Compile(Parse("""
              targetRefs: [{kind: Service, name: db}]
              action: CUSTOM
              provider: {name: authz}
              rules: [{from: [{source: {namespaces: ["untrusted"]}}]}]
            """), new ExtAuthzProviders(MeshConfig.FromConfigMap((k8s.Models.V1ConfigMap)KubernetesObjectLoader.Load(mesh.TrimStart('\n', '-')).Objects.Single()), new TranslatorOptions()));

        Assert.Empty(policy.Problems);
        Assert.NotNull(policy.ExtAuthz);
        Assert.StartsWith(ExtAuthzProviderCompiler.ShadowPolicyPrefix, policy.Http.Keys.Single(), StringComparison.Ordinal);
        var deny = AuthorizationFilters.NetworkFilters([policy], 5432).Single();
        Assert.Equal(AuthorizationFilters.DenyFilter, deny.Name);
    }

    [Fact]
    public void Without_Policies_Http_Chains_Carry_The_Rbac_Filters_Off_So_A_First_Policy_Changes_Only_Routes()
    {
        var before = new WaypointTranslator().Translate(Load(Base + Service("echo", "10.0.0.1")));

        var listener = EnvoyJson.Format(before.Waypoints[Key].Listeners.Single(l => l.Name == "main_internal"));
        foreach (var filter in new[] { AuthorizationFilters.AuditFilter, AuthorizationFilters.DenyFilter, AuthorizationFilters.AllowFilter })
        {
            Assert.Contains($"\"{filter}\"", listener, StringComparison.Ordinal);
        }

        Assert.DoesNotContain("\"policies\"", listener, StringComparison.Ordinal); // empty RBAC configs: no engine, nothing enforced
        Assert.DoesNotContain("jwt_authn", listener, StringComparison.Ordinal);
        Assert.DoesNotContain("ext_authz", listener, StringComparison.Ordinal);
        Assert.Empty(before.AuthorizationPolicies);

        // The first policy of the service leaves the listener byte for byte as it was: only its routes change.
        var after = new WaypointTranslator().Translate(Load(Base + Service("echo", "10.0.0.1") + Policy("deny-admin", """
              targetRefs: [{kind: Service, name: echo}]
              action: DENY
              rules: [{to: [{operation: {paths: ["/admin"]}}]}]
            """)));
        Assert.Equal(listener, EnvoyJson.Format(after.Waypoints[Key].Listeners.Single(l => l.Name == "main_internal")));
        Assert.NotEqual(
            EnvoyJson.Format(before.Waypoints[Key].Routes.Single()),
            EnvoyJson.Format(after.Waypoints[Key].Routes.Single()));
    }

    [Fact]
    public void Http_Chains_Carry_The_Mesh_Configs_Ext_Authz_Filters_Off_So_A_First_Custom_Policy_Changes_Only_Routes()
    {
        var mesh = """

            ---
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: istio, namespace: istio-system}
            data:
              mesh: |
                extensionProviders:
                - name: authz
                  envoyExtAuthzHttp: {service: authz.example.com, port: 8000}
                - name: not-ext-authz
                  zipkin: {service: zipkin.example.com, port: 9411}
            """;
        var translator = new WaypointTranslator();
        var before = translator.Translate(Load(Base + Service("echo", "10.0.0.1") + mesh));
        var listener = before.Waypoints[Key].Encoded.Single(e => e.Name == "main_internal" && e.TypeUrl.EndsWith(".Listener", StringComparison.Ordinal));
        var json = EnvoyJson.Format(before.Waypoints[Key].Listeners.Single(l => l.Name == "main_internal"));
        Assert.Contains("\"waypoint.authz.custom.authz_", json, StringComparison.Ordinal);
        Assert.Contains("\"waypoint.authz.ext_authz.authz_", json, StringComparison.Ordinal);
        Assert.Contains("ext-authz|authz.example.com|8000", json, StringComparison.Ordinal);
        Assert.DoesNotContain("not-ext-authz", json, StringComparison.Ordinal); // a provider no CUSTOM policy can ask is not built
        Assert.DoesNotContain("shadow_rules\"", json, StringComparison.Ordinal); // no shadow rules: nothing selected, ext_authz stays off
        Assert.Contains(before.Waypoints[Key].Clusters, c => c.Name == "ext-authz|authz.example.com|8000");
        Assert.DoesNotContain(before.Waypoints[Key].Routes.Single().VirtualHosts.Single().TypedPerFilterConfig.Keys, k => k.StartsWith("waypoint.authz.custom.", StringComparison.Ordinal));

        // The first CUSTOM policy leaves the listener byte for byte as it was: only its routes change.
        var after = translator.Translate(Load(Base + Service("echo", "10.0.0.1") + mesh + Policy("ask", """
              targetRefs: [{kind: Service, name: echo}]
              action: CUSTOM
              provider: {name: authz}
              rules: [{to: [{operation: {paths: ["/checked*"]}}]}]
            """)));
        Assert.Equal("True", after.AuthorizationPolicies.Single().Ancestors.Single().Conditions.Single().Status);
        var afterListener = after.Waypoints[Key].Encoded.Single(e => e.Name == "main_internal" && e.TypeUrl.EndsWith(".Listener", StringComparison.Ordinal));
        Assert.Equal(listener.Bytes, afterListener.Bytes);
        Assert.Contains(after.Waypoints[Key].Routes.Single().VirtualHosts.Single().TypedPerFilterConfig.Keys, k => k.StartsWith("waypoint.authz.custom.authz_", StringComparison.Ordinal));

        // A change of the mesh config's providers does change the chains (documented).
        var moved = translator.Translate(Load(Base + Service("echo", "10.0.0.1") + mesh.Replace("8000", "9000", StringComparison.Ordinal)));
        Assert.NotEqual(listener.Bytes, moved.Waypoints[Key].Encoded.Single(e => e.Name == "main_internal" && e.TypeUrl.EndsWith(".Listener", StringComparison.Ordinal)).Bytes);
    }

    [Fact]
    public void A_Deny_Rule_With_An_Http_Only_Field_Denies_More_On_Tcp_And_An_Allow_Rule_With_One_Matches_Nothing()
    {
        var deny = AuthorizationPolicyCompiler.Compile(Parse("""
              targetRefs: [{kind: Service, name: db}]
              action: DENY
              rules: [{from: [{source: {namespaces: [batch]}}], to: [{operation: {methods: [GET]}}]}]
            """));
        var allow = AuthorizationPolicyCompiler.Compile(Parse("""
              targetRefs: [{kind: Service, name: db}]
              rules: [{to: [{operation: {paths: [/x]}}]}]
            """));

        var tcpDeny = Assert.Single(deny.Tcp).Value;
        Assert.True(tcpDeny.Permissions.Single().Any); // the method is dropped: every connection from batch is denied
        Assert.Equal("GET", Assert.Single(deny.Http).Value.Permissions.Single().Header.StringMatch.Exact);
        Assert.Empty(allow.Tcp);
        Assert.Single(allow.Http);
        Assert.Empty(allow.Problems); // not a problem: Istio's documented behaviour
    }

    [Fact]
    public void An_Unknown_Field_Anywhere_Is_Kept_And_Makes_A_Deny_Deny_All()
    {
        var policy = AuthorizationPolicyCompiler.Compile(Parse("""
              targetRefs: [{kind: Service, name: echo}]
              action: DENY
              rules: [{to: [{operation: {methods: [GET], futureField: [x]}}]}]
            """));

        Assert.True(policy.DenyAll);
        Assert.Contains("spec.rules[0].to[0].operation.futureField: not supported", policy.Problems);
        var all = Assert.Single(policy.Http).Value;
        Assert.True(all.Principals.Single().Any && all.Permissions.Single().Any);
    }

    [Theory]
    [InlineData("app.echo.0.1", "app", "echo")]
    [InlineData("app.echo.v2.3.0", "app", "echo.v2")]
    [InlineData("default", null, null)]
    [InlineData("app.echo.x.0", null, null)]
    public void Route_Names_Map_Back_To_Their_HttpRoute(string name, string? ns, string? route)
    {
        var parsed = AuthorizationFilters.RouteOf(name);
        Assert.Equal(ns, parsed?.Ns);
        Assert.Equal(route, parsed?.Name);
    }

    [Fact]
    public void A_Request_Principal_Is_Matched_At_Every_Slash_Of_The_Issuer()
    {
        var principal = JwtClaims.RequestPrincipal("https://issuer/alice");

        // "https:" + "/issuer/alice", "https:/" + "issuer/alice", "https://issuer" + "alice"
        var splits = principal.OrIds.Ids.Select(p => (
            Issuer: p.AndIds.Ids[0].Metadata.Value.StringMatch.Exact,
            Subject: p.AndIds.Ids[1].Metadata.Value.StringMatch.Exact)).ToList();
        Assert.Contains(("https://issuer", "alice"), splits);
        Assert.Equal(3, splits.Count);
    }

    [Fact]
    public void Policies_Of_Another_Namespace_Or_A_Selector_Are_Not_The_Waypoints()
    {
        var yaml = Base + Service("echo", "10.0.0.1") + Policy("selector-only", """
              selector: {matchLabels: {app: echo}}
              action: DENY
              rules: [{}]
            """) + Policy("cross-namespace", """
              targetRefs: [{kind: Service, name: echo, namespace: other}]
              action: DENY
              rules: [{}]
            """);

        var result = new WaypointTranslator().Translate(Load(yaml));

        Assert.Empty(result.Waypoints[Key].Routes.Single().VirtualHosts.Single().TypedPerFilterConfig);
        Assert.Empty(result.AuthorizationPolicies); // enforced nowhere by us: no ancestor entry
    }

    [Fact]
    public void Provenance_Names_The_Policies_And_RequestAuthentications_Behind_Each_Resource()
    {
        var yaml = Base + Service("echo", "10.0.0.1") + Service("other", "10.0.0.2") + Policy("echo-deny", """
              targetRefs: [{kind: Service, name: echo}]
              action: DENY
              rules: [{to: [{operation: {methods: [POST]}}]}]
            """) + Policy("echo-custom", """
              targetRefs: [{kind: Service, name: echo}]
              action: CUSTOM
              provider: {name: checker}
              rules: [{to: [{operation: {paths: ["/admin*"]}}]}]
            """) + """

            ---
            apiVersion: security.istio.io/v1
            kind: RequestAuthentication
            metadata: {name: echo-jwt, namespace: app, generation: 1}
            spec:
              targetRefs: [{kind: Service, name: echo}]
              jwtRules: [{issuer: "https://issuer.example.com", jwksUri: "https://issuer.example.com/jwks"}]
            ---
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: istio, namespace: istio-system}
            data:
              mesh: |
                extensionProviders:
                - name: checker
                  envoyExtAuthzGrpc: {service: authz.example.com, port: 9000}
            """;

        var resources = new WaypointTranslator().Translate(Load(yaml)).Waypoints[Key];

        const string RouteType = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";
        const string ClusterType = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
        SourceObject gateway = new("Gateway", "app", "waypoint"), deny = new("AuthorizationPolicy", "app", "echo-deny"),
            custom = new("AuthorizationPolicy", "app", "echo-custom"), jwt = new("RequestAuthentication", "app", "echo-jwt");
        var echoRoutes = resources.Routes.Single(r => r.Name.Contains("echo.", StringComparison.Ordinal)).Name;
        var otherRoutes = resources.Routes.Single(r => r.Name.Contains("other.", StringComparison.Ordinal)).Name;
        Assert.Equal([gateway, custom, deny, jwt], resources.SourcesOf(RouteType, echoRoutes));
        Assert.Equal([gateway], resources.SourcesOf(RouteType, otherRoutes));
        Assert.Equal([gateway, custom, deny, jwt], resources.SourcesOf("type.googleapis.com/envoy.config.listener.v3.Listener", "main_internal"));
        Assert.Equal([gateway, jwt], resources.SourcesOf(ClusterType, "jwks|issuer.example.com|443"));
        Assert.Equal([gateway, custom], resources.SourcesOf(ClusterType, "ext-authz|authz.example.com|9000"));
    }

    [Fact]
    public void A_Rejected_Allow_Admits_Nothing_And_A_Rejected_RequestAuthentication_Loses_Its_Providers()
    {
        var yaml = Base + Service("echo", "10.0.0.1") + Policy("echo-allow", """
              targetRefs: [{kind: Service, name: echo}]
              rules: [{from: [{source: {principals: ["cluster.local/ns/app/sa/client"]}}]}]
            """) + """

            ---
            apiVersion: security.istio.io/v1
            kind: RequestAuthentication
            metadata: {name: echo-jwt, namespace: app, generation: 3}
            spec:
              targetRefs: [{kind: Service, name: echo}]
              jwtRules: [{issuer: "https://issuer.example.com", jwksUri: "https://issuer.example.com/jwks"}]
            """;
        var snapshot = Load(yaml) with
        {
            EnvoyRejections =
            [
                new EnvoyRejection("AuthorizationPolicy", "app", "echo-allow", 1, "bad allow"),
                new EnvoyRejection("RequestAuthentication", "app", "echo-jwt", 3, "bad jwks"),
            ],
        };

        var result = new WaypointTranslator().Translate(snapshot);

        var allow = result.AuthorizationPolicies.Single().Ancestors.Single().Conditions.Single();
        Assert.Equal(("False", "Envoy rejected the configuration made from this object: bad allow. Fail-closed: the policy admits no request (its rules are not sent)."), (allow.Status, allow.Message));
        var authentication = result.RequestAuthentications.Single().Ancestors.Single().Conditions.Single();
        Assert.Equal("False", authentication.Status);
        Assert.StartsWith("Envoy rejected the configuration made from this object: bad jwks. All its rules are left out", authentication.Message, StringComparison.Ordinal);
        var resources = result.Waypoints[Key];
        var configs = resources.Routes.Single().VirtualHosts.Single().TypedPerFilterConfig;
        Assert.False(configs.ContainsKey(AuthorizationFilters.AllowFilter)); // DENY and ALLOW decide in one engine
        var rbac = configs[AuthorizationFilters.DenyFilter].Unpack<RBACPerRoute>();
        Assert.Equal(Envoy.Config.Rbac.V3.RBAC.Types.Action.Deny, rbac.Rbac.Rules.Action);
        var none = Assert.Single(rbac.Rbac.Rules.Policies); // an ALLOW with no policies admits nothing: every request is denied
        Assert.Equal(AuthorizationFilters.NoAllowMatchedPolicy, none.Key);
        Assert.True(Assert.Single(none.Value.Principals).Any);
        Assert.True(Assert.Single(none.Value.Permissions).Any);
        Assert.DoesNotContain(resources.Clusters, c => c.Name.StartsWith("jwks|", StringComparison.Ordinal));

        // A new generation is translated again.
        var edited = new WaypointTranslator().Translate(Load(yaml.Replace("generation: 3", "generation: 4", StringComparison.Ordinal)) with { EnvoyRejections = snapshot.EnvoyRejections });
        Assert.Equal("True", edited.RequestAuthentications.Single().Ancestors.Single().Conditions.Single().Status);
        Assert.Equal("False", edited.AuthorizationPolicies.Single().Ancestors.Single().Conditions.Single().Status);
    }

    [Fact]
    public void A_Rules_Conditions_Are_Tested_Cheapest_First_Whatever_Their_Order_In_The_Policy()
    {
        var result = new WaypointTranslator().Translate(Load(Base + Service("echo", "10.0.0.1") + Policy("echo-deny", """
              targetRefs: [{kind: Service, name: echo}]
              action: DENY
              rules:
              - from: [{source: {principals: ["cluster.local/ns/app/sa/*"], ipBlocks: ["10.1.0.0/16"]}}]
                to: [{operation: {methods: [POST, DELETE], paths: ["/admin/*"], ports: ["80"]}}]
                when: [{key: "request.headers[x-block]", values: ["yes"]}]
            """)));

        var rules = result.Waypoints[Key].Routes.Single().VirtualHosts.Single().TypedPerFilterConfig[AuthorizationFilters.DenyFilter].Unpack<RBACPerRoute>().Rbac.Rules;
        var policy = Assert.Single(rules.Policies).Value;

        // Envoy stops an and-set at its first failing condition: the port, then the path, before the two :method lookups.
        var operation = Assert.Single(policy.Permissions).AndRules.Rules;
        Assert.Equal([Permission.RuleOneofCase.DestinationPort, Permission.RuleOneofCase.UrlPath, Permission.RuleOneofCase.OrRules], operation.Select(r => r.RuleCase));
        Assert.Equal(["POST", "DELETE"], operation[2].OrRules.Rules.Select(r => r.Header.StringMatch.Exact));

        // The address range, then the header scan, and the peer principal (copied out of filter state) last.
        var source = Assert.Single(policy.Principals).AndIds.Ids;
        Assert.Equal([Principal.IdentifierOneofCase.DirectRemoteIp, Principal.IdentifierOneofCase.Header, Principal.IdentifierOneofCase.FilterState], source.Select(p => p.IdentifierCase));
        Assert.Equal("spiffe://cluster.local/ns/app/sa/", source[2].FilterState.StringMatch.Prefix);
    }

    [Fact]
    public void Policies_Under_A_Shared_Path_Prefix_Are_Tested_Behind_One_Test_Of_That_Prefix()
    {
        var result = new WaypointTranslator().Translate(Load(Base + Service("echo", "10.0.0.1")
            + Policy("deny-a", """
              targetRefs: [{kind: Service, name: echo}]
              action: DENY
              rules: [{to: [{operation: {paths: ["/shop-a/*"]}}], when: [{key: "request.headers[x-block]", values: ["yes"]}]}]
            """)
            + Policy("deny-b", """
              targetRefs: [{kind: Service, name: echo}]
              action: DENY
              rules: [{to: [{operation: {paths: ["/shop-b/*", "/shop-bb"]}}], when: [{key: "request.headers[x-block]", values: ["yes"]}]}]
            """)
            + Policy("deny-anywhere", """
              targetRefs: [{kind: Service, name: echo}]
              action: DENY
              rules: [{to: [{operation: {methods: [TRACE]}}]}]
            """)
            + Policy("allow-team-1", """
              targetRefs: [{kind: Service, name: echo}]
              rules: [{from: [{source: {principals: ["cluster.local/ns/app/sa/other"]}}], to: [{operation: {paths: ["/api-1/*"]}}]}]
            """)
            + Policy("allow-team-2", """
              targetRefs: [{kind: Service, name: echo}]
              rules: [{from: [{source: {principals: ["cluster.local/ns/ops/sa/*"]}}], to: [{operation: {paths: ["/api-2/*"]}}]}]
            """)
            + Policy("allow-client-reads", """
              targetRefs: [{kind: Service, name: echo}]
              rules: [{from: [{source: {principals: ["cluster.local/ns/app/sa/client"]}}], to: [{operation: {methods: [GET]}}]}]
            """)));

        var rules = result.Waypoints[Key].Routes.Single().VirtualHosts.Single().TypedPerFilterConfig[AuthorizationFilters.DenyFilter].Unpack<RBACPerRoute>().Rbac.Rules;

        // The two DENY policies on /shop-… are one policy behind that prefix; the one on no path keeps its id.
        Assert.Equal(["deny-under-path[/shop-]", AuthorizationFilters.NoAllowMatchedPolicy, "ns[app]-policy[deny-anywhere]-rule[0]"], rules.Policies.Keys.Order(StringComparer.Ordinal));
        var shop = rules.Policies["deny-under-path[/shop-]"];
        Assert.Equal("/shop-", Assert.Single(shop.Permissions).UrlPath.Path.Prefix);
        Assert.Equal(2, Assert.Single(shop.Principals).OrIds.Ids.Count);

        // "No ALLOW policy matched": the two team policies behind /api-, the client's (no path) beside them.
        var admitted = rules.Policies[AuthorizationFilters.NoAllowMatchedPolicy].Principals.Single().NotId.OrIds.Ids;
        Assert.Equal(2, admitted.Count);
        var api = admitted.Single(a => a.IdentifierCase == Principal.IdentifierOneofCase.AndIds && a.AndIds.Ids[0].IdentifierCase == Principal.IdentifierOneofCase.UrlPath);
        Assert.Equal("/api-", api.AndIds.Ids[0].UrlPath.Path.Prefix);
        Assert.Equal(2, api.AndIds.Ids[1].OrIds.Ids.Count);
    }

    [Theory]
    [InlineData("/*", null)] // a prefix of "/" guards nothing
    [InlineData("*.html", null)] // a suffix has no prefix
    [InlineData("/admin", "/admin")]
    [InlineData("/admin/*", "/admin/")]
    public void A_Path_Guard_Is_Taken_Only_From_A_Literal_Prefix_Every_Match_Shares(string path, string? guard)
    {
        var result = new WaypointTranslator().Translate(Load(Base + Service("echo", "10.0.0.1")
            + Policy("deny-one", $$$"""
              targetRefs: [{kind: Service, name: echo}]
              action: DENY
              rules: [{to: [{operation: {paths: ["{{{path}}}"]}}], when: [{key: "request.headers[x-one]", values: ["yes"]}]}]
            """)
            + Policy("deny-two", $$$"""
              targetRefs: [{kind: Service, name: echo}]
              action: DENY
              rules: [{to: [{operation: {paths: ["{{{path}}}"]}}], when: [{key: "request.headers[x-two]", values: ["yes"]}]}]
            """)));

        var rules = result.Waypoints[Key].Routes.Single().VirtualHosts.Single().TypedPerFilterConfig[AuthorizationFilters.DenyFilter].Unpack<RBACPerRoute>().Rbac.Rules;
        string[] expected = guard is null
            ? ["ns[app]-policy[deny-one]-rule[0]", "ns[app]-policy[deny-two]-rule[0]"]
            : [$"deny-under-path[{guard}]"];
        Assert.Equal(expected, rules.Policies.Keys.Order(StringComparer.Ordinal));
    }

    private static EncodedResource MainInternalListener(WaypointResources resources) =>
        resources.Encoded.Single(e => e.Name == "main_internal" && e.TypeUrl.EndsWith(".Listener", StringComparison.Ordinal));
}
