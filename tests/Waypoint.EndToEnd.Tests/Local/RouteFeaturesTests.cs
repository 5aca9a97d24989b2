using System.Net;
using System.Net.Sockets;
using System.Text;
using Waypoint.Local.Echo;

namespace Waypoint.EndToEnd.Tests.Local;

public sealed class FeaturesFixture : RigFixture
{
    public const string Ns = "feat";

    protected override IReadOnlyDictionary<string, string> Files => new Dictionary<string, string>
    {
        ["00-mesh.yaml"] = RigYaml.Namespace(Ns, waypoint: "waypoint") + RigYaml.Waypoint("waypoint", Ns),
        ["10-services.yaml"] = string.Concat(
            new[] { "web", "web-v2", "other", "mods", "redir", "rewrite", "split", "split-a", "split-b", "mirror", "mirror-shadow", "timeouts", "retry" }
                .Select(s => RigYaml.EchoService(s, Ns)))
            + RigYaml.EchoService("tcp", Ns, port: 9000, portName: "tcp-echo").Replace("targetPort: 8080", "targetPort: 9000").Replace("containerPort: 8080", "containerPort: 9000"),
        ["20-routes.yaml"] = string.Concat(
            RouteYaml.ForService("web", Ns, """
              - matches:
                - headers: [{ name: x-version, value: v2 }]
                - queryParams: [{ name: variant, value: v2 }]
                - method: POST
                  path: { type: PathPrefix, value: /submit }
                backendRefs: [{ name: web-v2, port: 80 }]
              - backendRefs: [{ name: web, port: 80 }]
            """),
            RouteYaml.ForService("mods", Ns, """
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
            RouteYaml.ForService("redir", Ns, """
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
            RouteYaml.ForService("rewrite", Ns, """
              - matches: [{ path: { type: PathPrefix, value: /api } }]
                filters:
                - type: URLRewrite
                  urlRewrite:
                    hostname: rewritten.example
                    path: { type: ReplacePrefixMatch, replacePrefixMatch: /v2 }
                backendRefs: [{ name: rewrite, port: 80 }]
            """),
            RouteYaml.ForService("split", Ns, """
              - backendRefs:
                - { name: split-a, port: 80, weight: 80 }
                - { name: split-b, port: 80, weight: 20 }
            """),
            RouteYaml.ForService("mirror", Ns, """
              - filters:
                - type: RequestMirror
                  requestMirror:
                    backendRef: { name: mirror-shadow, port: 80 }
                backendRefs: [{ name: mirror, port: 80 }]
            """),
            RouteYaml.ForService("timeouts", Ns, """
              - matches: [{ path: { type: PathPrefix, value: /backend } }]
                timeouts: { backendRequest: 300ms }
                backendRefs: [{ name: timeouts, port: 80 }]
              - timeouts: { request: 500ms }
                backendRefs: [{ name: timeouts, port: 80 }]
            """),
            RouteYaml.ForService("retry", Ns, """
              - retry: { attempts: 2, codes: [503], backoff: 10ms }
                backendRefs: [{ name: retry, port: 80 }]
            """)),
    };

    public Uri Url(string service, string pathAndQuery) => new($"http://{service}.{Ns}.svc.cluster.local{pathAndQuery}");
}

/// <summary>HTTPRoute features on a waypoint, end to end through real Envoys (client originator → waypoint → terminator → app).</summary>
public sealed class RouteFeaturesTests(FeaturesFixture fixture) : IClassFixture<FeaturesFixture>
{
    private HttpClient Client => fixture.Client;

    [Theory]
    [InlineData("GET", "/page", null, "web-0")]
    [InlineData("GET", "/page", "x-version: v2", "web-v2-0")]
    [InlineData("GET", "/page?variant=v2", null, "web-v2-0")]
    [InlineData("GET", "/page?variant=v3", null, "web-0")]
    [InlineData("POST", "/submit/form", null, "web-v2-0")]
    [InlineData("GET", "/submit/form", null, "web-0")]
    public async Task HeaderQueryAndMethodMatches_PickTheBackend(string method, string pathAndQuery, string? header, string expectedPod)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), fixture.Url("web", pathAndQuery));
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
        using var request = new HttpRequestMessage(HttpMethod.Get, fixture.Url("other", "/page?variant=v2"));
        request.Headers.Add("x-version", "v2");
        var echo = await SendOkAsync(request);
        Assert.Equal("other-0", echo.Pod);
    }

    [Fact]
    public async Task HeaderModifiers_ChangeRequestAndResponseHeaders()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, fixture.Url("mods", "/"));
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
        var before = fixture.Rig.Recorder.Snapshot().Count(r => r.Pod == "redir-0");
        using var response = await Client.GetAsync(fixture.Url("redir", "/old/page?q=1"));
        Assert.Equal(HttpStatusCode.MovedPermanently, response.StatusCode);
        Assert.Equal("https://example.com/new?q=1", response.Headers.Location?.OriginalString);
        Assert.Equal(before, fixture.Rig.Recorder.Snapshot().Count(r => r.Pod == "redir-0"));
    }

    [Fact]
    public async Task Rewrite_ChangesPathAndHostSeenByBackend()
    {
        var echo = await SendOkAsync(new HttpRequestMessage(HttpMethod.Get, fixture.Url("rewrite", "/api/items?id=7")));
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
            var echo = await SendOkAsync(new HttpRequestMessage(HttpMethod.Get, fixture.Url("split", "/")), ct);
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
        var key = Guid.NewGuid().ToString("N");
        using var request = new HttpRequestMessage(HttpMethod.Get, fixture.Url("mirror", "/m"));
        request.Headers.Add("x-test-key", key);
        var echo = await SendOkAsync(request);
        Assert.Equal("mirror-0", echo.Pod);

        var shadow = await fixture.Rig.Recorder.WaitForAsync(r => r.Pod == "mirror-shadow-0" && r.Header("x-test-key") == key, TimeSpan.FromSeconds(10));
        Assert.Equal("/m", shadow.Path);

        // A second, later request is the barrier: once the shadow has seen it, any duplicate of the first would have arrived.
        using var barrier = new HttpRequestMessage(HttpMethod.Get, fixture.Url("mirror", "/barrier"));
        var barrierKey = Guid.NewGuid().ToString("N");
        barrier.Headers.Add("x-test-key", barrierKey);
        await SendOkAsync(barrier);
        await fixture.Rig.Recorder.WaitForAsync(r => r.Pod == "mirror-shadow-0" && r.Header("x-test-key") == barrierKey, TimeSpan.FromSeconds(10));
        Assert.Single(fixture.Rig.Recorder.WithHeader("x-test-key", key), r => r.Pod == "mirror-shadow-0");
        Assert.Single(fixture.Rig.Recorder.WithHeader("x-test-key", key), r => r.Pod == "mirror-0");
    }

    [Fact]
    public async Task RequestTimeout_Gives504()
    {
        using var slow = new HttpRequestMessage(HttpMethod.Get, fixture.Url("timeouts", "/slow"));
        slow.Headers.Add("x-echo-delay-ms", "3000");
        using var response = await Client.SendAsync(slow);
        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);

        using var fast = new HttpRequestMessage(HttpMethod.Get, fixture.Url("timeouts", "/fast"));
        fast.Headers.Add("x-echo-delay-ms", "50");
        Assert.Equal("/fast", (await SendOkAsync(fast)).Path);
    }

    [Fact]
    public async Task BackendRequestTimeout_Gives504()
    {
        using var slow = new HttpRequestMessage(HttpMethod.Get, fixture.Url("timeouts", "/backend/slow"));
        slow.Headers.Add("x-echo-delay-ms", "2000");
        using var response = await Client.SendAsync(slow);
        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);

        using var fast = new HttpRequestMessage(HttpMethod.Get, fixture.Url("timeouts", "/backend/fast"));
        Assert.Equal("/backend/fast", (await SendOkAsync(fast)).Path);
    }

    [Fact]
    public async Task Retry_FailTwiceThenSucceed_Gives200AfterThreeAttempts()
    {
        var key = Guid.NewGuid().ToString("N");
        using var request = new HttpRequestMessage(HttpMethod.Get, fixture.Url("retry", "/flaky"));
        request.Headers.Add("x-echo-fail-times", "2");
        request.Headers.Add("x-echo-fail-key", key);
        var echo = await SendOkAsync(request);
        Assert.Equal(3, echo.Attempt);
        Assert.Equal(3, fixture.Rig.Recorder.WithHeader("x-echo-fail-key", key).Count);
    }

    [Fact]
    public async Task Retry_Exhausted_GivesTheBackendError()
    {
        var key = Guid.NewGuid().ToString("N");
        using var request = new HttpRequestMessage(HttpMethod.Get, fixture.Url("retry", "/broken"));
        request.Headers.Add("x-echo-fail-times", "10");
        request.Headers.Add("x-echo-fail-key", key);
        using var response = await Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(3, fixture.Rig.Recorder.WithHeader("x-echo-fail-key", key).Count);
    }

    [Fact]
    public async Task TcpService_PassesThroughTheWaypoint()
    {
        var service = fixture.Rig.Topology.FindService("tcp", FeaturesFixture.Ns)!;
        Assert.NotNull(service.Waypoint);
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        await socket.ConnectAsync(new IPEndPoint(service.Address, 9000), cts.Token);
        await using var stream = new NetworkStream(socket);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        await stream.WriteAsync(Encoding.UTF8.GetBytes("hello tcp\n"), cts.Token);
        Assert.Equal("tcp-0.feat hello tcp", await reader.ReadLineAsync(cts.Token));
        await stream.WriteAsync(Encoding.UTF8.GetBytes("again\n"), cts.Token);
        Assert.Equal("tcp-0.feat again", await reader.ReadLineAsync(cts.Token));
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
