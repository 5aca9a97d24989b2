using System.Net;
using Waypoint.Translator.Model;
using Waypoint.Xds;

namespace Waypoint.Translator.Tests.Acceptance;

/// <summary>
/// An AuthorizationPolicy our validation lets through but real Envoy 1.40 rejects: a <c>when</c> header name with a
/// line break (Envoy's <c>HeaderMatcher.name</c> must match HTTP_HEADER_NAME). Envoy NACKs the RouteConfiguration and
/// keeps its last good one; the translator's provenance names the policy behind it; fed back as an
/// <see cref="EnvoyRejection"/> (what the controller's EnvoyRejectionTracker does with the NACK), the policy gets
/// <c>WaypointAccepted=False</c> with Envoy's message and fails closed, and the waypoint goes on updating.
/// </summary>
public sealed class AuthorizationNackEnvoyTests
{
    private const string Client = "spiffe://cluster.local/ns/app/sa/client";
    private const string RouteConfigurationType = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";

    private const string AllowClient = """
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata: {name: allow-client, namespace: app, generation: 1}
        spec:
          targetRefs: [{kind: Service, group: "", name: echo}]
          rules: [{from: [{source: {principals: ["cluster.local/ns/app/sa/client"]}}]}]
        ---

        """;

    private static string Deny(int generation, string headerKey) => $$"""
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata: {name: block-header, namespace: app, generation: {{generation}}}
        spec:
          targetRefs: [{kind: Service, group: "", name: echo}]
          action: DENY
          rules: [{when: [{key: "{{headerKey}}", values: ["yes"]}]}]
        ---

        """;

    [Fact]
    public async Task A_Policy_Envoy_Rejects_Is_Named_By_Provenance_Reported_With_Envoys_Message_And_Fails_Closed()
    {
        await using var echo = await Waypoint.TestKit.Http.EchoBackend.StartAsync("echo");
        var target = new HboneTarget(WaypointEnvoyHarness.EchoAuthority, Client);
        var (harness, _) = await WaypointEnvoyHarness.StartAsync(WaypointEnvoyHarness.Mesh(echo.EndPoint, AllowClient), XdsProtocol.StateOfTheWorld, target);
        await using var _h = harness;
        Assert.Equal(HttpStatusCode.OK, await StatusOfAsync(harness, target));

        // The translator accepts the policy (a header name is not checked beyond the key's form); Envoy does not.
        var rejectedSnapshot = WaypointEnvoyHarness.Mesh(echo.EndPoint, AllowClient + Deny(1, @"request.headers[x-block\nme]"));
        var (rejected, nack) = await harness.ApplyRejectedAsync(rejectedSnapshot);
        Assert.All(rejected.AuthorizationPolicies, p => Assert.Equal("True", p.Ancestors.Single().Conditions.Single().Status));
        Assert.Equal(RouteConfigurationType, nack.Nack.TypeUrl);
        Assert.Contains("HeaderMatcher", nack.Nack.ErrorMessage, StringComparison.Ordinal);
        var resources = rejected.Waypoints[new WaypointKey("app", "waypoint")];
        var sources = nack.Rejected.SelectMany(r => resources.SourcesOf(r.TypeUrl, r.Name)).Distinct().ToList();
        Assert.Contains(new SourceObject("AuthorizationPolicy", "app", "block-header"), sources);
        Assert.Contains(new SourceObject("AuthorizationPolicy", "app", "allow-client"), sources);

        // Envoy keeps its last good configuration: the allowed client is still served.
        Assert.Equal(HttpStatusCode.OK, await StatusOfAsync(harness, target));

        // The rejection fed back (the newly added policy is the suspect): reported with Envoy's own message, and the
        // DENY fails closed rather than being dropped (which would let through what it was written to stop).
        var withRejection = rejectedSnapshot with
        {
            EnvoyRejections = [new EnvoyRejection("AuthorizationPolicy", "app", "block-header", 1, nack.Nack.ErrorMessage)],
        };
        var reported = await harness.ApplyAsync(withRejection);
        var condition = reported.AuthorizationPolicies.Single(p => p.Name == "block-header").Ancestors.Single().Conditions.Single();
        Assert.Equal(("WaypointAccepted", "False", "Invalid"), (condition.Type, condition.Status, condition.Reason));
        Assert.StartsWith("Envoy rejected the configuration made from this object: ", condition.Message, StringComparison.Ordinal);
        Assert.Contains(nack.Nack.ErrorMessage[..Math.Min(200, nack.Nack.ErrorMessage.Length)], condition.Message, StringComparison.Ordinal);
        Assert.Contains("deny-all", condition.Message, StringComparison.Ordinal);
        Assert.Equal("True", reported.AuthorizationPolicies.Single(p => p.Name == "allow-client").Ancestors.Single().Conditions.Single().Status);
        await EventuallyAsync(async () => await StatusOfAsync(harness, target) == HttpStatusCode.Forbidden);

        // The waypoint keeps updating: editing the policy (a new generation) gives it another chance, and it is enforced.
        var fixedPolicy = await harness.ApplyAsync(WaypointEnvoyHarness.Mesh(echo.EndPoint, AllowClient + Deny(2, "request.headers[x-block-me]")) with
        {
            EnvoyRejections = withRejection.EnvoyRejections,
        });
        Assert.All(fixedPolicy.AuthorizationPolicies, p => Assert.Equal("True", p.Ancestors.Single().Conditions.Single().Status));
        await EventuallyAsync(async () => await StatusOfAsync(harness, target) == HttpStatusCode.OK);
        Assert.Equal(HttpStatusCode.Forbidden, await StatusOfAsync(harness, target, ("x-block-me", "yes")));
    }

    private static async Task<HttpStatusCode> StatusOfAsync(WaypointEnvoyHarness harness, HboneTarget target, (string Name, string Value)? header = null)
    {
        using var client = harness.CreateHttpClient(target);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/public");
        if (header is { } h)
        {
            request.Headers.Add(h.Name, h.Value);
        }

        using var response = await client.SendAsync(request);
        return response.StatusCode;
    }

    private static async Task EventuallyAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the change did not reach Envoy in 30 s");
            await Task.Delay(100);
        }
    }
}
