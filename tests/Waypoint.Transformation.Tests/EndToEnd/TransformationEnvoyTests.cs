using System.Net;
using System.Text;
using System.Text.Json;
using Waypoint.TestKit.Http;
using Waypoint.TestKit.Transformation;
using Waypoint.Transformation.Compilation;

namespace Waypoint.Transformation.Tests.EndToEnd;

/// <summary>One Envoy + transformation service + echo backend shared by the data-plane tests.</summary>
public sealed class TransformationRigFixture : IAsyncLifetime
{
    public TransformationRig Rig { get; private set; } = null!;

    public static readonly CompiledTrafficPolicy GatewayPolicy = PolicyYaml.Compile("gateway-defaults", """
        transformation:
          response:
            set:
            - name: x-policy
              value: gateway
        """, targetKind: "Gateway");

    public async Task InitializeAsync()
    {
        var headerFromHeader = PolicyYaml.Compile("header-from-header", """
            transformation:
              request:
                set:
                - name: x-copied
                  value: 'copy of {{ header("x-source") }}'
                remove: [x-drop-me]
              response:
                set:
                - name: x-response-copy
                  value: '{{ request_header("x-source") }}'
            """);
        var base64 = PolicyYaml.Compile("base64", """
            transformation:
              response:
                add:
                - name: x-base64-decoded
                  value: '{{ substring(base64_decode(request_header("x-base64-encoded")), 11) }}'
            """);
        var jsonToHeader = PolicyYaml.Compile("json-to-header", """
            transformation:
              request:
                set:
                - name: x-user-id
                  value: '{{ user.id }}'
                - name: x-first-role
                  value: '{{ user.roles.0 }}'
                body:
                  parseAs: AsJson
            """);
        var responseBody = PolicyYaml.Compile("response-body", """
            transformation:
              response:
                body:
                  parseAs: AsJson
                  value: '{"via": "waypoint", "method": "{{ method }}", "path": "{{ path }}", "greeting": "{{ headers["x-greeting"] }}"}'
            """);
        var requestBody = PolicyYaml.Compile("request-body", """
            transformation:
              request:
                body:
                  parseAs: AsJson
                  value: '{"name": "{{ upper }}", "n": {{ count + 1 }}, "from": "{{ header("x-client") }}"}'
            """);
        var retry = PolicyYaml.Compile("retry", """
            retry:
              retryOn: [5xx]
              attempts: 3
              backoffBaseInterval: 1ms
            """);
        var perTry = PolicyYaml.Compile("per-try", """
            retry:
              retryOn: [5xx]
              attempts: 2
              perTryTimeout: 2s
              backoffBaseInterval: 1ms
            timeouts:
              request: 10s
            """);
        var routeOverride = PolicyYaml.Compile("route-override", """
            transformation:
              response:
                set:
                - name: x-policy
                  value: route
            """);

        Rig = await TransformationRig.StartAsync(
        [
            ("/native/", RouteTrafficPolicy.Resolve(null, [headerFromHeader])),
            ("/base64/", RouteTrafficPolicy.Resolve(null, [base64])),
            ("/json-to-header/", RouteTrafficPolicy.Resolve(null, [jsonToHeader])),
            ("/response-body/", RouteTrafficPolicy.Resolve(null, [responseBody])),
            ("/request-body/", RouteTrafficPolicy.Resolve(null, [requestBody])),
            ("/retry/", RouteTrafficPolicy.Resolve(null, [retry])),
            ("/per-try/", RouteTrafficPolicy.Resolve(null, [perTry])),
            ("/gateway-default/", RouteTrafficPolicy.Resolve([GatewayPolicy], null)),
            ("/gateway-overridden/", RouteTrafficPolicy.Resolve([GatewayPolicy], [routeOverride])),
            ("/plain/", RouteTrafficPolicy.None),
        ]);
    }

    public async Task DisposeAsync()
    {
        if (Rig is not null)
        {
            await Rig.DisposeAsync();
        }
    }
}

public sealed class TransformationEnvoyTests(TransformationRigFixture fixture) : IClassFixture<TransformationRigFixture>
{
    private TransformationRig Rig => fixture.Rig;

    [Fact]
    public async Task Native_RequestHeader_SetFromAnotherHeader_WithoutTheService()
    {
        var before = Rig.Streams.GetMeasurementSnapshot().Count;
        using var request = new HttpRequestMessage(HttpMethod.Get, "native/x");
        request.Headers.Add("x-source", "alpha");
        request.Headers.Add("x-drop-me", "secret");
        using var response = await Rig.Client.SendAsync(request);

        var echo = EchoResponse.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("copy of alpha", echo.Headers["x-copied"]);
        Assert.False(echo.Headers.ContainsKey("x-drop-me"));
        Assert.Equal("alpha", Header(response, "x-response-copy"));
        Assert.Equal(before, Rig.Streams.GetMeasurementSnapshot().Count);
    }

    [Fact]
    public async Task Native_MissingSourceHeader_RendersEmpty_LikeInja()
    {
        using var response = await Rig.Client.GetAsync("native/");

        var echo = EchoResponse.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("copy of", echo.Headers["x-copied"]); // "copy of " with the trailing space trimmed by HTTP
    }

    [Fact]
    public async Task Base64DecodedRequestHeader_BecomesResponseHeader_KgatewayExample()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "base64/");
        request.Headers.Add("x-base64-encoded", "dHJhbnNmb3JtYXRpb24gdGVzdA=="); // "transformation test", as in kgateway's docs
        using var response = await Rig.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("ion test", Header(response, "x-base64-decoded"));
    }

    [Fact]
    public async Task Base64_InvalidInput_IsRejectedWithAClearError()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "base64/");
        request.Headers.Add("x-base64-encoded", "%%%not-base64");
        using var response = await Rig.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.Contains("not valid base64", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task JsonRequestBodyField_IsExtractedIntoAHeader_AndTheBodyIsForwardedIntact()
    {
        const string body = """{"user": {"id": 42, "roles": ["admin", "dev"]}}""";
        using var response = await Rig.Client.PostAsync("json-to-header/", new StringContent(body, Encoding.UTF8, "application/json"));

        var echo = EchoResponse.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("42", echo.Headers["x-user-id"]);
        Assert.Equal("admin", echo.Headers["x-first-role"]);
        Assert.Equal(body, echo.Body);
    }

    [Fact]
    public async Task JsonRequestBody_MissingField_Answers400NamingTheField()
    {
        using var response = await Rig.Client.PostAsync("json-to-header/", new StringContent("""{"user": {}}""", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("user.id", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task JsonRequestBody_NotJson_Answers400()
    {
        using var response = await Rig.Client.PostAsync("json-to-header/", new StringContent("not json", Encoding.UTF8, "text/plain"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("not valid JSON", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ResponseBody_IsRewrittenFromATemplateOverTheUpstreamJson()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "response-body/items?x=1");
        request.Headers.Add("x-greeting", "hi");
        using var response = await Rig.Client.SendAsync(request);

        var text = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(text);
        Assert.Equal("waypoint", json.RootElement.GetProperty("via").GetString());
        Assert.Equal("GET", json.RootElement.GetProperty("method").GetString());
        Assert.Equal("/response-body/items", json.RootElement.GetProperty("path").GetString());
        Assert.Equal("hi", json.RootElement.GetProperty("greeting").GetString());
        Assert.Equal(Encoding.UTF8.GetByteCount(text), response.Content.Headers.ContentLength);
    }

    [Fact]
    public async Task RequestBody_IsRewrittenFromATemplate()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "request-body/")
        {
            Content = new StringContent("""{"upper": "ADA", "count": 41}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("x-client", "tests");
        using var response = await Rig.Client.SendAsync(request);

        var echo = EchoResponse.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("""{"name": "ADA", "n": 42, "from": "tests"}""", echo.Body);
        Assert.Equal(echo.Body.Length.ToString(System.Globalization.CultureInfo.InvariantCulture), echo.Headers["content-length"]);
    }

    [Fact]
    public async Task Retry_5xx_ThreeAttempts_RecoversABackendThatFailsTwice()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "retry/");
        request.Headers.Add("x-request-id", Guid.NewGuid().ToString());
        request.Headers.Add("x-echo-fail-first", "2");
        using var response = await Rig.Client.SendAsync(request);

        var echo = EchoResponse.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(3, echo.Attempt);
    }

    [Fact]
    public async Task Retry_GivesUpAfterTheConfiguredAttempts()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "retry/");
        request.Headers.Add("x-request-id", Guid.NewGuid().ToString());
        request.Headers.Add("x-echo-fail-first", "10");
        using var response = await Rig.Client.SendAsync(request);

        var echo = EchoResponse.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(4, echo.Attempt); // the first try and 3 retries
    }

    [Fact]
    public async Task PerTryTimeout_CutsASlowAttempt_AndTheRetrySucceeds()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "per-try/");
        request.Headers.Add("x-request-id", Guid.NewGuid().ToString());
        request.Headers.Add("x-echo-delay-first", "1");
        // The first attempt would answer after 8 s (inside the 10 s request timeout); the 2 s per-try timeout must cut
        // it. 2 s, not less, leaves the second attempt room on a loaded machine (300 ms once timed out there).
        request.Headers.Add("x-echo-delay-ms", "8000");
        var started = TimeProvider.System.GetTimestamp();
        using var response = await Rig.Client.SendAsync(request);
        var elapsed = TimeProvider.System.GetElapsedTime(started);

        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {body}");
        Assert.Equal(2, EchoResponse.Parse(body).Attempt);
        Assert.True(elapsed < TimeSpan.FromSeconds(8), $"the slow first attempt was not cut: {elapsed}");
    }

    [Fact]
    public async Task GatewayLevelPolicy_AppliesToRoutesWithoutTheirOwn_RouteLevelOverridesIt()
    {
        using var byDefault = await Rig.Client.GetAsync("gateway-default/");
        using var overridden = await Rig.Client.GetAsync("gateway-overridden/");

        Assert.Equal("gateway", Header(byDefault, "x-policy"));
        Assert.Equal("route", Header(overridden, "x-policy"));
    }

    [Fact]
    public async Task RouteWithoutPolicy_NeverReachesTheTransformationService()
    {
        var before = Rig.Streams.GetMeasurementSnapshot().Count;
        using var plain = await Rig.Client.PostAsync("plain/", new StringContent("""{"user": {"id": 1}}""", Encoding.UTF8, "application/json"));
        var echo = EchoResponse.Parse(await plain.Content.ReadAsStringAsync());

        Assert.Equal(HttpStatusCode.OK, plain.StatusCode);
        Assert.False(echo.Headers.ContainsKey("x-user-id"));
        Assert.Equal(before, Rig.Streams.GetMeasurementSnapshot().Count);

        using var transformed = await Rig.Client.PostAsync("json-to-header/", new StringContent("""{"user": {"id": 1, "roles": ["r"]}}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, transformed.StatusCode);
        Assert.True(Rig.Streams.GetMeasurementSnapshot().Count > before, "the transformed route should have used the service");
    }

    [Fact]
    public async Task InvalidTemplate_IsRejectedWithItsPosition_AndOtherRoutesKeepWorking()
    {
        var result = TrafficPolicyCompiler.Compile(PolicyYaml.Policy("broken", """
            transformation:
              request:
                set:
                - name: x-bad
                  value: '{{ header("x-source" }}'
            """));

        Assert.False(result.Succeeded);
        Assert.Equal(
            "spec.transformation.request.set[0].value: invalid template at line 1, column 22: expected ',' or ')' in the arguments of header() but found '}'",
            Assert.Single(result.Errors));

        using var request = new HttpRequestMessage(HttpMethod.Get, "native/");
        request.Headers.Add("x-source", "still-works");
        using var response = await Rig.Client.SendAsync(request);
        Assert.Equal("copy of still-works", EchoResponse.Parse(await response.Content.ReadAsStringAsync()).Headers["x-copied"]);
    }

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? string.Join(",", values)
        : response.Content.Headers.TryGetValues(name, out var contentValues) ? string.Join(",", contentValues) : null;
}
