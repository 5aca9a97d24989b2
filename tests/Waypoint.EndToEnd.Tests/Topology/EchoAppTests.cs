using System.Net;
using Waypoint.Local.Echo;

namespace Waypoint.EndToEnd.Tests.Topology;

/// <summary>The echo app's knobs, directly on loopback (no Envoy).</summary>
public sealed class EchoAppTests
{
    [Fact]
    public async Task Knobs_StatusHeadersAndFailNTimes_AreHonouredAndRecorded()
    {
        var recorder = new EchoRecorder();
        var address = IPAddress.Parse("127.20.250.250");
        var port = 18080;
        await using var app = await EchoApp.StartAsync(new EchoAppOptions { Pod = "p", Namespace = "n", Address = address, HttpPorts = [port] }, recorder);
        using var client = new HttpClient();

        using var custom = new HttpRequestMessage(HttpMethod.Put, new Uri($"http://{address}:{port}/x?y=1"));
        custom.Headers.Add("x-echo-status", "418");
        custom.Headers.Add("x-echo-response-header", "x-one: 1");
        using var customResponse = await client.SendAsync(custom);
        Assert.Equal((HttpStatusCode)418, customResponse.StatusCode);
        Assert.Equal("1", Assert.Single(customResponse.Headers.GetValues("x-one")));
        var reply = EchoReply.Parse(await customResponse.Content.ReadAsStringAsync());
        Assert.Equal(("p", "n", "PUT", "/x", "?y=1"), (reply.Pod, reply.Namespace, reply.Method, reply.Path, reply.Query));

        var statuses = new List<int>();
        for (var i = 0; i < 4; i++)
        {
            using var flaky = new HttpRequestMessage(HttpMethod.Get, new Uri($"http://{address}:{port}/flaky"));
            flaky.Headers.Add("x-echo-fail-times", "2");
            flaky.Headers.Add("x-request-id", "same-request");
            using var response = await client.SendAsync(flaky);
            statuses.Add((int)response.StatusCode);
        }

        Assert.Equal([503, 503, 200, 200], statuses);
        Assert.Equal(5, recorder.Total);
    }
}
