using System.Net;
using System.Text.Json.Nodes;
using Waypoint.Local.Echo;

namespace Waypoint.EndToEnd.Tests.Topology;

/// <summary>The echo app in httpbin mode (the node's go-httpbin image), directly on loopback: what the ambient suite calls.</summary>
public sealed class HttpbinEndpointsTests
{
    [Fact]
    public async Task Headers_Status_Delay_And_Unstable_Answer_As_Httpbin_And_Other_Paths_Keep_The_Echo()
    {
        var address = IPAddress.Parse("127.20.250.251");
        const int port = 18081;
        await using var app = await EchoApp.StartAsync(new EchoAppOptions { Pod = "p", Namespace = "n", Address = address, HttpPorts = [port], Httpbin = true }, new EchoRecorder());
        using var client = new HttpClient { BaseAddress = new Uri($"http://{address}:{port}") };

        using var headersRequest = new HttpRequestMessage(HttpMethod.Get, "/headers");
        headersRequest.Headers.Add("x-request-id", "abc");
        headersRequest.Headers.Add("x-multi", ["1", "2"]);
        using var headers = await client.SendAsync(headersRequest);
        Assert.Equal(HttpStatusCode.OK, headers.StatusCode);
        var seen = JsonNode.Parse(await headers.Content.ReadAsStringAsync())!["headers"]!;
        Assert.Equal("abc", seen["X-Request-Id"]![0]!.GetValue<string>());
        Assert.Equal($"{address}:{port}", seen["Host"]![0]!.GetValue<string>());
        Assert.Contains("1", seen["X-Multi"]!.AsArray().Select(v => v!.GetValue<string>()).SelectMany(v => v.Split(',', StringSplitOptions.TrimEntries)));

        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/status/200")).StatusCode);
        Assert.Equal((HttpStatusCode)418, (await client.GetAsync("/status/418")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await client.GetAsync("/status/teapot")).StatusCode);

        using var delay = await client.GetAsync("/delay/0");
        Assert.Equal(HttpStatusCode.OK, delay.StatusCode);
        Assert.Equal("GET", JsonNode.Parse(await delay.Content.ReadAsStringAsync())!["method"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.BadRequest, (await client.GetAsync("/delay/soon")).StatusCode);

        // The failure rate decides: 0 never fails, 1 always does; out of range is refused.
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/unstable?failure_rate=0")).StatusCode);
            Assert.Equal(HttpStatusCode.InternalServerError, (await client.GetAsync("/unstable?failure_rate=1")).StatusCode);
        }

        Assert.Equal(HttpStatusCode.BadRequest, (await client.GetAsync("/unstable?failure_rate=2")).StatusCode);

        var echo = EchoReply.Parse(await client.GetStringAsync("/hello?x=1"));
        Assert.Equal(("p", "/hello", "?x=1"), (echo.Pod, echo.Path, echo.Query));
    }

    [Theory]
    [InlineData("x-request-id", "X-Request-Id")]
    [InlineData("HOST", "Host")]
    [InlineData("x-envoy-expected-rq-timeout-ms", "X-Envoy-Expected-Rq-Timeout-Ms")]
    public void Header_Names_Are_Shown_In_Gos_Canonical_Form(string name, string canonical) =>
        Assert.Equal(canonical, HttpbinEndpoints.CanonicalName(name));
}
