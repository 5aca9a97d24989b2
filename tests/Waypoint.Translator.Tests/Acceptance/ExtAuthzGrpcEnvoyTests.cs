using System.Net;
using System.Text.Json;
using Waypoint.TestKit.Authorization;
using Waypoint.TestKit.Http;
using static Waypoint.Translator.Tests.Acceptance.ExtAuthzScenario;

namespace Waypoint.Translator.Tests.Acceptance;

/// <summary>
/// CUSTOM AuthorizationPolicies whose provider is <c>envoyExtAuthzGrpc</c>, on a real waypoint Envoy asking a gRPC
/// ext_authz server the test runs (<see cref="ExtAuthzGrpcServer"/>): only the requests the CUSTOM rules select are
/// checked; the server's verdict, status, headers and body reach the client; an unreachable or slow server fails
/// closed (statusOnError) unless the provider fails open.
/// </summary>
public sealed class ExtAuthzGrpcEnvoyTests
{
    [Fact]
    public async Task Selected_Requests_Get_The_Grpc_Servers_Verdict_With_Its_Headers_Status_And_Body_And_Others_Are_Not_Checked()
    {
        await using var echo = await EchoBackend.StartAsync("echo");
        await using var authz = await ExtAuthzGrpcServer.StartAsync();
        var mesh = MeshConfig($$"""
            - name: authz-grpc
              envoyExtAuthzGrpc: {service: "{{authz.EndPoint.Address}}", port: {{authz.EndPoint.Port}}, timeout: 2s}
            """);
        var (harness, translation) = await StartAsync(echo, mesh + Custom("echo-ext-authz", "authz-grpc", "/admin*"));
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
            Assert.Equal("alice", seen.Headers["x-user"]); // OkHttpResponse.headers: added upstream
            Assert.Equal("yes", Assert.Single(allowed.Headers.GetValues("x-ext-authz-allowed"))); // response_headers_to_add
            var check = Assert.Single(authz.Checks);
            Assert.Equal(("GET", "/admin/users?page=2"), (check.Method, check.Path));
            Assert.Equal("allow", check.Headers["x-ext-authz"]); // the gRPC check carries the request's headers
        }

        using (var denied = await SendAsync(harness, "/admin/users", verdict: "deny"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, denied.StatusCode); // DeniedHttpResponse.status
            Assert.Equal("denied", Assert.Single(denied.Headers.GetValues("x-ext-authz-check-result")));
            Assert.Equal(ExtAuthzGrpcServer.DeniedBody, await denied.Content.ReadAsStringAsync());
            Assert.Equal(2, authz.Checks.Count);
        }

        Assert.Equal(2, echo.RequestCount); // the denied request never reached the backend
    }

    [Fact]
    public async Task An_Unreachable_Or_Slow_Grpc_Server_Denies_With_StatusOnError_Unless_The_Provider_Fails_Open()
    {
        await using var echo = await EchoBackend.StartAsync("echo");
        await using var slow = await ExtAuthzGrpcServer.StartAsync();
        var down = ClosedPort();
        var mesh = MeshConfig($$"""
            - name: closed
              envoyExtAuthzGrpc: {service: "127.0.0.1", port: {{down}}, timeout: 2s}
            - name: closed-503
              envoyExtAuthzGrpc: {service: "127.0.0.1", port: {{down}}, timeout: 2s, statusOnError: "503"}
            - name: open
              envoyExtAuthzGrpc: {service: "127.0.0.1", port: {{down}}, timeout: 2s, failOpen: true}
            - name: slow
              envoyExtAuthzGrpc: {service: "127.0.0.1", port: {{slow.EndPoint.Port}}, timeout: 1s}
            """);
        var policies = Custom("closed", "closed", "/closed*") + Custom("closed-503", "closed-503", "/unavailable*")
            + Custom("open", "open", "/open*") + Custom("slow", "slow", "/slow*");
        var (harness, translation) = await StartAsync(echo, mesh + policies);
        await using var _ = harness;
        Assert.All(translation.AuthorizationPolicies, p => Assert.Equal("True", p.Ancestors.Single().Conditions.Single().Status));

        using (var closed = await SendAsync(harness, "/closed", verdict: "allow"))
        {
            Assert.Equal(HttpStatusCode.Forbidden, closed.StatusCode); // Istio's default statusOnError
        }

        using (var unavailable = await SendAsync(harness, "/unavailable", verdict: "allow"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, unavailable.StatusCode);
        }

        using (var open = await SendAsync(harness, "/open"))
        {
            Assert.Equal(HttpStatusCode.OK, open.StatusCode);
        }

        // The server holds the check past the provider's timeout: Envoy gives up, cancels the call and fails closed.
        using (var timedOut = await SendAsync(harness, "/slow", verdict: "hang"))
        {
            Assert.Equal(HttpStatusCode.Forbidden, timedOut.StatusCode);
            Assert.Equal("/slow", Assert.Single(slow.Checks).Path);
        }

        await WaitUntilAsync(() => slow.Cancelled == 1, "Envoy to cancel the timed-out check");
        Assert.Equal(1, echo.RequestCount); // only the fail-open request reached the backend
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for {what}");
            await Task.Delay(50);
        }
    }

}
