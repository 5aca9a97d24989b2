using System.Net;
using System.Net.Sockets;
using System.Text;
using Waypoint.Local.Echo;

namespace Waypoint.EndToEnd.Tests.Mesh;

/// <summary>Namespace <c>feat</c> (its waypoint for every Service): one Service per HTTPRoute feature.</summary>
internal static class FeaturesMesh
{
    public const string Ns = "feat";

    public static IReadOnlyDictionary<string, string> Files => new Dictionary<string, string>
    {
        ["feat-00-mesh.yaml"] = MeshYaml.Namespace(Ns, waypoint: "waypoint") + MeshYaml.Waypoint("waypoint", Ns),
        ["feat-10-services.yaml"] = string.Concat(
            new[] { "web", "web-v2", "other", "mods", "redir", "rewrite", "split", "split-a", "split-b", "mirror", "mirror-shadow", "timeouts", "retry" }
                .Select(s => MeshYaml.EchoService(s, Ns)))
            + MeshYaml.EchoService("tcp", Ns, port: 9000, portName: "tcp-echo", tcp: true),
        ["feat-20-routes.yaml"] = string.Concat(
            MeshYaml.Route("web", Ns, """
              - matches:
                - headers: [{ name: x-version, value: v2 }]
                - queryParams: [{ name: variant, value: v2 }]
                - method: POST
                  path: { type: PathPrefix, value: /submit }
                backendRefs: [{ name: web-v2, port: 80 }]
              - backendRefs: [{ name: web, port: 80 }]
            """),
            MeshYaml.Route("mods", Ns, """
              - filters:
                - type: RequestHeaderModifier
                  requestHeaderModifier:
                    set: [{ name: x-set, value: one }]
                    add: [{ name: x-added, value: two }]
                    remove: [x-remove-me]
                - type: ResponseHeaderModifier
                  responseHeaderModifier:
                    add: [{ name: x-resp, value: "yes" }]
                backendRefs: [{ name: mods, port: 80 }]
            """),
            MeshYaml.Route("redir", Ns, """
              - matches: [{ path: { type: PathPrefix, value: /old } }]
                filters:
                - type: RequestRedirect
                  requestRedirect:
                    scheme: https
                    hostname: example.com
                    statusCode: 301
                    path: { type: ReplaceFullPath, replaceFullPath: /new }
              - backendRefs: [{ name: redir, port: 80 }]
            """),
            MeshYaml.Route("rewrite", Ns, """
              - matches: [{ path: { type: PathPrefix, value: /api } }]
                filters:
                - type: URLRewrite
                  urlRewrite:
                    hostname: rewritten.example
                    path: { type: ReplacePrefixMatch, replacePrefixMatch: /v2 }
                backendRefs: [{ name: rewrite, port: 80 }]
            """),
            MeshYaml.Route("split", Ns, """
              - backendRefs:
                - { name: split-a, port: 80, weight: 80 }
                - { name: split-b, port: 80, weight: 20 }
            """),
            MeshYaml.Route("mirror", Ns, """
              - filters:
                - type: RequestMirror
                  requestMirror:
                    backendRef: { name: mirror-shadow, port: 80 }
                backendRefs: [{ name: mirror, port: 80 }]
            """),
            MeshYaml.Route("timeouts", Ns, """
              - matches: [{ path: { type: PathPrefix, value: /backend } }]
                timeouts: { backendRequest: 300ms }
                backendRefs: [{ name: timeouts, port: 80 }]
              - timeouts: { request: 500ms }
                backendRefs: [{ name: timeouts, port: 80 }]
            """),
            MeshYaml.Route("retry", Ns, """
              - retry: { attempts: 2, codes: [503], backoff: 10ms }
                backendRefs: [{ name: retry, port: 80 }]
            """)),
    };

    public static Uri Url(string service, string pathAndQuery) => new($"http://{service}.{Ns}.svc.cluster.local{pathAndQuery}");
}

/// <summary>HTTPRoute features on a waypoint, end to end through real Envoys (client originator → waypoint → terminator → app).</summary>
[Collection(MeshBoxGroup.Name)]
public sealed class RouteFeaturesTests(MeshBoxFixture mesh)
{
    private HttpClient Client => mesh.Client;

    [Theory]
    [InlineData("GET", "/page", null, "web-0")]
    [InlineData("GET", "/page", "x-version: v2", "web-v2-0")]
    [InlineData("GET", "/page?variant=v2", null, "web-v2-0")]
    [InlineData("GET", "/page?variant=v3", null, "web-0")]
    [InlineData("POST", "/submit/form", null, "web-v2-0")]
    [InlineData("GET", "/submit/form", null, "web-0")]
    public async Task HeaderQueryAndMethodMatches_PickTheBackend(string method, string pathAndQuery, string? header, string expectedPod)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), FeaturesMesh.Url("web", pathAndQuery));
        if (header is not null)
        {
            var parts = header.Split(':', 2);
            request.Headers.Add(parts[0], parts[1].Trim());
        }

        var echo = await SendOkAsync(request);
        Assert.Equal(expectedPod, echo.Pod);
    }

    [Fact]
    public async Task RouteOnOneService_NeverAffectsAnother()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, FeaturesMesh.Url("other", "/page?variant=v2"));
        request.Headers.Add("x-version", "v2");
        var echo = await SendOkAsync(request);
        Assert.Equal("other-0", echo.Pod);
    }

    [Fact]
    public async Task HeaderModifiers_ChangeRequestAndResponseHeaders()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, FeaturesMesh.Url("mods", "/"));
        request.Headers.Add("x-set", "zero");
        request.Headers.Add("x-added", "first");
        request.Headers.Add("x-remove-me", "gone");
        using var response = await Client.SendAsync(request);
        var echo = EchoReply.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("one", echo.Header("x-set"));
        Assert.Equal("first,two", echo.Header("x-added"));
        Assert.Null(echo.Header("x-remove-me"));
        Assert.Equal("yes", Assert.Single(response.Headers.GetValues("x-resp")));
    }

    [Fact]
    public async Task Redirect_AnswersWithExactLocation_WithoutReachingTheBackend()
    {
        var key = Guid.NewGuid().ToString("N");
        using var response = await Client.GetAsync(FeaturesMesh.Url("redir", $"/old/{key}?q=1"));
        Assert.Equal(HttpStatusCode.MovedPermanently, response.StatusCode);
        Assert.Equal("https://example.com/new?q=1", response.Headers.Location?.OriginalString);
        Assert.Equal(0, await mesh.CountLoggedAsync(FeaturesMesh.Ns, "redir-0", "redir", $"/old/{key}"));
    }

    [Fact]
    public async Task Rewrite_ChangesPathAndHostSeenByBackend()
    {
        var echo = await SendOkAsync(new HttpRequestMessage(HttpMethod.Get, FeaturesMesh.Url("rewrite", "/api/items?id=7")));
        Assert.Equal("/v2/items", echo.Path);
        Assert.Equal("?id=7", echo.Query);
        Assert.Equal("rewritten.example", echo.Host);
    }

    [Fact]
    public async Task WeightedSplit_FollowsWeights_Within5Points()
    {
        // 1000 requests, 80/20: the share of split-a must be 80% ± 5 points (binomial sd ≈ 1.3 points, so ~4 sd).
        const int total = 1000;
        var toA = 0;
        var toB = 0;
        await Parallel.ForEachAsync(Enumerable.Range(0, total), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (_, ct) =>
        {
            var echo = await SendOkAsync(new HttpRequestMessage(HttpMethod.Get, FeaturesMesh.Url("split", "/")), ct);
            if (echo.Pod == "split-a-0")
            {
                Interlocked.Increment(ref toA);
            }
            else if (echo.Pod == "split-b-0")
            {
                Interlocked.Increment(ref toB);
            }
        });

        Assert.Equal(total, toA + toB);
        var share = 100.0 * toA / total;
        Assert.InRange(share, 75.0, 85.0);
    }

    [Fact]
    public async Task Mirror_ShadowBackendSeesExactlyOneCopy()
    {
        var path = $"/m/{Guid.NewGuid():N}";
        var echo = await SendOkAsync(new HttpRequestMessage(HttpMethod.Get, FeaturesMesh.Url("mirror", path)));
        Assert.Equal("mirror-0", echo.Pod);

        // The copy is sent on the side: wait for it, then a barrier (a later request) makes sure no second copy follows.
        var shadowLog = "";
        await MeshBoxFixture.EventuallyAsync(async () => (shadowLog = await mesh.PodLogAsync(FeaturesMesh.Ns, "mirror-shadow-0")).Contains($" {path} from ", StringComparison.Ordinal),
            () => Task.FromResult($"the shadow never saw {path}:\n{shadowLog}"));
        Assert.Equal(1, await mesh.CountLoggedAsync(FeaturesMesh.Ns, "mirror-shadow-0", "mirror-shadow", path));
        Assert.Equal(1, await mesh.CountLoggedAsync(FeaturesMesh.Ns, "mirror-0", "mirror", path));
    }

    [Fact]
    public async Task RequestTimeout_Gives504()
    {
        using var slow = new HttpRequestMessage(HttpMethod.Get, FeaturesMesh.Url("timeouts", "/slow"));
        slow.Headers.Add("x-echo-delay-ms", "3000");
        using var response = await Client.SendAsync(slow);
        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);

        using var fast = new HttpRequestMessage(HttpMethod.Get, FeaturesMesh.Url("timeouts", "/fast"));
        fast.Headers.Add("x-echo-delay-ms", "50");
        Assert.Equal("/fast", (await SendOkAsync(fast)).Path);
    }

    [Fact]
    public async Task BackendRequestTimeout_Gives504()
    {
        using var slow = new HttpRequestMessage(HttpMethod.Get, FeaturesMesh.Url("timeouts", "/backend/slow"));
        slow.Headers.Add("x-echo-delay-ms", "2000");
        using var response = await Client.SendAsync(slow);
        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);

        using var fast = new HttpRequestMessage(HttpMethod.Get, FeaturesMesh.Url("timeouts", "/backend/fast"));
        Assert.Equal("/backend/fast", (await SendOkAsync(fast)).Path);
    }

    [Fact]
    public async Task Retry_FailTwiceThenSucceed_Gives200AfterThreeAttempts()
    {
        var key = Guid.NewGuid().ToString("N");
        using var request = new HttpRequestMessage(HttpMethod.Get, FeaturesMesh.Url("retry", $"/flaky/{key}"));
        request.Headers.Add("x-echo-fail-times", "2");
        request.Headers.Add("x-echo-fail-key", key);
        var echo = await SendOkAsync(request);
        Assert.Equal(3, echo.Attempt);
        Assert.Equal(3, await mesh.CountLoggedAsync(FeaturesMesh.Ns, "retry-0", "retry", $"/flaky/{key}"));
    }

    [Fact]
    public async Task Retry_Exhausted_GivesTheBackendError()
    {
        var key = Guid.NewGuid().ToString("N");
        using var request = new HttpRequestMessage(HttpMethod.Get, FeaturesMesh.Url("retry", $"/broken/{key}"));
        request.Headers.Add("x-echo-fail-times", "10");
        request.Headers.Add("x-echo-fail-key", key);
        using var response = await Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(3, await mesh.CountLoggedAsync(FeaturesMesh.Ns, "retry-0", "retry", $"/broken/{key}"));
    }

    [Fact]
    public async Task TcpService_PassesThroughTheWaypoint()
    {
        Assert.Equal("feat/waypoint", mesh.Service(FeaturesMesh.Ns, "tcp").Waypoint);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        using (var socket = await mesh.ConnectFromClientAsync("tcp.feat.svc.cluster.local", 9000, cts.Token))
        {
            await using var stream = new NetworkStream(socket);
            using var reader = new StreamReader(stream, Encoding.UTF8);
            await stream.WriteAsync(Encoding.UTF8.GetBytes("hello tcp\n"), cts.Token);
            Assert.Equal("tcp-0.feat hello tcp", await reader.ReadLineAsync(cts.Token));
            await stream.WriteAsync(Encoding.UTF8.GetBytes("again\n"), cts.Token);
            Assert.Equal("tcp-0.feat again", await reader.ReadLineAsync(cts.Token));
        }

        // Closed: the waypoint's tunnel into the pod ends too, and ztunnel's inbound logs who opened it.
        await MeshBoxFixture.EventuallyAsync(
            () => Task.FromResult(mesh.ZtunnelAccessLog().Any(l => l.Contains("inbound pod=feat/tcp-0 ", StringComparison.Ordinal) && l.Contains("peer=spiffe://cluster.local/ns/feat/sa/waypoint ", StringComparison.Ordinal))),
            () => Task.FromResult($"no tunnel into feat/tcp-0 from the waypoint:\n{string.Join('\n', mesh.ZtunnelAccessLog().TakeLast(30))}"));
    }

    private async Task<EchoReply> SendOkAsync(HttpRequestMessage request, CancellationToken cancellationToken = default)
    {
        using (request)
        {
            using var response = await Client.SendAsync(request, cancellationToken);
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{request.Method} {request.RequestUri}: {(int)response.StatusCode} {body}");
            return EchoReply.Parse(body);
        }
    }
}
