using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Waypoint.TestKit.Http;
using static Waypoint.Translator.Tests.Acceptance.ExtAuthzScenario;

namespace Waypoint.Translator.Tests.Acceptance;

/// <summary>
/// CUSTOM AuthorizationPolicies on a real waypoint Envoy, asking an ext_authz HTTP server the test runs: the mesh
/// config (ConfigMap istio-system/istio) names the provider; only requests the CUSTOM rules select are checked.
/// </summary>
public sealed class ExtAuthzEnvoyTests
{
    [Fact]
    public async Task Selected_Requests_Are_Allowed_Or_Denied_By_The_Server_With_Its_Status_And_Headers_And_Others_Skip_The_Check()
    {
        await using var echo = await EchoBackend.StartAsync("echo");
        await using var authz = await ExtAuthzHttpServer.StartAsync();
        var mesh = MeshConfig($$"""
            - name: authz-http
              envoyExtAuthzHttp:
                service: "{{authz.EndPoint.Address}}"
                port: {{authz.EndPoint.Port}}
                pathPrefix: /check
                includeRequestHeadersInCheck: ["x-ext-authz"]
                includeAdditionalHeadersInCheck: {x-waypoint: app-waypoint}
                headersToUpstreamOnAllow: ["x-user"]
                headersToDownstreamOnDeny: ["x-ext-authz-check-result"]
            """);
        var (harness, translation) = await StartAsync(echo, mesh + Custom("echo-ext-authz", "authz-http", "/admin*"));
        await using var _ = harness;
        var condition = Assert.Single(Assert.Single(Assert.Single(translation.AuthorizationPolicies).Ancestors).Conditions);
        Assert.Equal(("WaypointAccepted", "True"), (condition.Type, condition.Status));

        using (var skipped = await SendAsync(harness, "/public", verdict: "deny"))
        {
            Assert.Equal(HttpStatusCode.OK, skipped.StatusCode); // not selected by the CUSTOM rules: never checked
            Assert.Empty(authz.Checks);
        }

        using (var allowed = await SendAsync(harness, "/admin/users?page=2", verdict: "allow"))
        {
            Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
            var seen = JsonSerializer.Deserialize<EchoResponse>(await allowed.Content.ReadAsStringAsync(), EchoResponse.JsonOptions)!;
            Assert.Equal("alice", seen.Headers["x-user"]); // headersToUpstreamOnAllow
            var check = Assert.Single(authz.Checks);
            Assert.StartsWith("/check/admin/users", check.Path, StringComparison.Ordinal); // pathPrefix + the request's path
            Assert.Equal("allow", check.Headers["x-ext-authz"]); // includeRequestHeadersInCheck
            Assert.Equal("app-waypoint", check.Headers["x-waypoint"]); // includeAdditionalHeadersInCheck
        }

        using (var denied = await SendAsync(harness, "/admin/users", verdict: "deny"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, denied.StatusCode); // the server's own status
            Assert.Equal("denied", Assert.Single(denied.Headers.GetValues("x-ext-authz-check-result"))); // headersToDownstreamOnDeny
            Assert.Equal("denied by the test's ext_authz", await denied.Content.ReadAsStringAsync());
            Assert.Equal(2, authz.Checks.Length);
        }
    }

    [Fact]
    public async Task Server_Down_Denies_Unless_The_Provider_Fails_Open_And_An_Unknown_Provider_Denies_Its_Service()
    {
        await using var echo = await EchoBackend.StartAsync("echo");
        var down = ClosedPort();
        var mesh = MeshConfig($$"""
            - name: closed
              envoyExtAuthzHttp: {service: "127.0.0.1", port: {{down}}, timeout: 2s}
            - name: closed-503
              envoyExtAuthzHttp: {service: "127.0.0.1", port: {{down}}, timeout: 2s, statusOnError: "503"}
            - name: open
              envoyExtAuthzHttp: {service: "127.0.0.1", port: {{down}}, timeout: 2s, failOpen: true}
            """);
        var policies = Custom("closed", "closed", "/closed*") + Custom("closed-503", "closed-503", "/unavailable*") + Custom("open", "open", "/open*");
        var (harness, translation) = await StartAsync(echo, mesh + policies);
        await using var _ = harness;
        Assert.All(translation.AuthorizationPolicies, p => Assert.Equal("True", p.Ancestors.Single().Conditions.Single().Status));

        using (var closed = await SendAsync(harness, "/closed"))
        {
            Assert.Equal(HttpStatusCode.Forbidden, closed.StatusCode); // Istio's default statusOnError
        }

        using (var unavailable = await SendAsync(harness, "/unavailable"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, unavailable.StatusCode);
        }

        using (var open = await SendAsync(harness, "/open"))
        {
            Assert.Equal(HttpStatusCode.OK, open.StatusCode);
        }

        using (var other = await SendAsync(harness, "/public"))
        {
            Assert.Equal(HttpStatusCode.OK, other.StatusCode);
        }

        // A provider the mesh config lacks: the policy cannot select requests for a check, so its service denies them all.
        var unknown = await harness.ApplyAsync(WaypointEnvoyHarness.Mesh(echo.EndPoint, mesh + Custom("nowhere", "nowhere", "/nowhere*")));
        var condition = Assert.Single(Assert.Single(Assert.Single(unknown.AuthorizationPolicies).Ancestors).Conditions);
        Assert.Equal("False", condition.Status);
        Assert.Contains("provider 'nowhere' is not in the extensionProviders of ConfigMap istio-system/istio", condition.Message, StringComparison.Ordinal);
        await Eventually(async () =>
        {
            using var response = await SendAsync(harness, "/public");
            return response.StatusCode == HttpStatusCode.Forbidden;
        });
    }

    private static async Task Eventually(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the change did not reach Envoy in 30 s");
            await Task.Delay(100);
        }
    }


    /// <summary>
    /// An ext_authz HTTP server (Envoy's HTTP protocol: the check is the request's method, path and allowed headers; a
    /// 200 allows, anything else denies with that status, headers and body). Verdict from <c>x-ext-authz</c>.
    /// </summary>
    private sealed class ExtAuthzHttpServer : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private readonly ConcurrentQueue<(string Path, Dictionary<string, string> Headers)> _checks = new();

        private ExtAuthzHttpServer(WebApplication app) => _app = app;

        public IPEndPoint EndPoint { get; private set; } = null!;

        public (string Path, Dictionary<string, string> Headers)[] Checks => _checks.ToArray();

        public static async Task<ExtAuthzHttpServer> StartAsync()
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
            var app = builder.Build();
            var server = new ExtAuthzHttpServer(app);
            app.Run(async context =>
            {
                var request = context.Request;
                server._checks.Enqueue((request.Path.Value + request.QueryString.Value, request.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value.ToString(), StringComparer.Ordinal)));
                if (request.Headers["x-ext-authz"] == "allow")
                {
                    context.Response.Headers["x-user"] = "alice";
                    context.Response.StatusCode = 200;
                    return;
                }

                context.Response.StatusCode = 401;
                context.Response.Headers["x-ext-authz-check-result"] = "denied";
                await context.Response.WriteAsync("denied by the test's ext_authz", context.RequestAborted);
            });
            await app.StartAsync();
            server.EndPoint = new IPEndPoint(IPAddress.Loopback, new Uri(app.Urls.First()).Port);
            return server;
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
