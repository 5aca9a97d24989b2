using System.Net;
using System.Net.Sockets;
using System.Text;
using Waypoint.TestKit.Http;

namespace Waypoint.Translator.Tests.Acceptance;

/// <summary>What routes do on a real waypoint Envoy, through HBONE, as the translator and bootstrap configure it.</summary>
public sealed class RouteBehaviourEnvoyTests
{
    private static string HttpRoute(string name, string rules, string created = "2026-01-01T00:00:00Z") => $$"""
        apiVersion: gateway.networking.k8s.io/v1
        kind: HTTPRoute
        metadata: {name: {{name}}, namespace: app, generation: 1, creationTimestamp: "{{created}}"}
        spec:
          parentRefs: [{group: "", kind: Service, name: echo, port: 80}]
          rules:
        {{rules}}
        """;

    /// <summary>
    /// Envoy's default RE2 limit (100) refuses this regex and would reject the whole resource; the bootstrap raises the
    /// limit, the translator checks the same limit: it is ACKed and matches. An oversized regex is refused by the
    /// translator alone (condition naming the pattern and the limit), and a sibling route keeps serving.
    /// </summary>
    [Fact]
    public async Task Regex_Within_The_Limit_Matches_And_An_Oversized_One_Is_Refused_While_Its_Sibling_Serves()
    {
        await using var echo = await EchoBackend.StartAsync("echo");
        var routes = HttpRoute("users", """
              - matches: [{path: {type: RegularExpression, value: '^/api/v[0-9]+/users/[a-zA-Z0-9_-]{1,64}$'}}]
                backendRefs: [{name: echo, port: 80}]
            """) + "\n---\n" + HttpRoute("files", """
              - matches: [{path: {type: RegularExpression, value: '^/files/[a-zA-Z0-9._~-]{1,1000}$'}}]
                backendRefs: [{name: echo, port: 80}]
            """, "2026-01-01T00:00:01Z") + "\n---\n" + HttpRoute("health", """
              - matches: [{path: {type: Exact, value: /healthz}}]
                backendRefs: [{name: echo, port: 80}]
            """, "2026-01-01T00:00:02Z");
        var (harness, translation) = await WaypointEnvoyHarness.StartAsync(WaypointEnvoyHarness.Mesh(echo.EndPoint, routes), WaypointEnvoyHarness.EchoAuthority);
        await using var _ = harness;
        using var client = harness.CreateHttpClient(WaypointEnvoyHarness.EchoAuthority);

        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/v2/users/alice_01")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/api/v2/users/" + new string('a', 65))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/files/a.txt")).StatusCode);

        var files = Assert.Single(translation.Routes, r => r.Name == "files");
        var accepted = Assert.Single(Assert.Single(files.Parents).Conditions, c => c.Type == "Accepted");
        Assert.Equal(("False", "UnsupportedValue"), (accepted.Status, accepted.Reason));
        Assert.Contains("'^/files/[a-zA-Z0-9._~-]{1,1000}$'", accepted.Message, StringComparison.Ordinal);
        Assert.Contains("above the limit of 4096", accepted.Message, StringComparison.Ordinal);
        foreach (var name in new[] { "users", "health" })
        {
            var condition = Assert.Single(Assert.Single(translation.Routes, r => r.Name == name).Parents.Single().Conditions, c => c.Type == "Accepted");
            Assert.Equal("True", condition.Status);
        }
    }

    /// <summary>GEP-1731: a try that hits <c>timeouts.backendRequest</c> is retried; the second, fast try answers.</summary>
    [Fact]
    public async Task Try_That_Hits_BackendRequest_Timeout_Is_Retried()
    {
        await using var echo = await EchoBackend.StartAsync("echo");
        var routes = HttpRoute("echo", """
              - timeouts: {backendRequest: 2s}
                retry: {attempts: 2}
                backendRefs: [{name: echo, port: 80}]
            """);
        var (harness, _) = await WaypointEnvoyHarness.StartAsync(WaypointEnvoyHarness.Mesh(echo.EndPoint, routes), WaypointEnvoyHarness.EchoAuthority);
        await using var __ = harness;
        using var client = harness.CreateHttpClient(WaypointEnvoyHarness.EchoAuthority);

        using var request = new HttpRequestMessage(HttpMethod.Get, "/slow-first");
        request.Headers.Add("x-echo-delay-ms", "5000");
        request.Headers.Add("x-echo-delay-first", "1");
        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = EchoResponse.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(2, body.Attempt);
        Assert.Equal(1, await harness.Waypoint.GetStatValueAsync("cluster.inbound-vip|80|http|echo.app.svc.cluster.local.upstream_rq_per_try_timeout"));
    }

    /// <summary>GEP-1731: <c>retry</c> without <c>codes</c> retries a backend that resets the connection.</summary>
    [Fact]
    public async Task Reset_Backend_Is_Retried_Without_Codes()
    {
        await using var backend = await ResetFirstBackend.StartAsync();
        var routes = HttpRoute("echo", """
              - retry: {attempts: 2}
                backendRefs: [{name: echo, port: 80}]
            """);
        var (harness, _) = await WaypointEnvoyHarness.StartAsync(WaypointEnvoyHarness.Mesh(backend.EndPoint, routes), WaypointEnvoyHarness.EchoAuthority);
        await using var __ = harness;
        using var client = harness.CreateHttpClient(WaypointEnvoyHarness.EchoAuthority);

        using var response = await client.GetAsync("/reset-first");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("ok", await response.Content.ReadAsStringAsync());
        Assert.Equal(2, backend.Connections);
        Assert.Equal(1, await harness.Waypoint.GetStatValueAsync("cluster.inbound-vip|80|http|echo.app.svc.cluster.local.upstream_rq_retry_success"));
    }

    /// <summary>An HTTP/1.1 backend that resets (RST) its first connection after reading the request, then answers 200 "ok".</summary>
    private sealed class ResetFirstBackend : IAsyncDisposable
    {
        private readonly TcpListener _listener;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _accepting;
        private int _connections;

        private ResetFirstBackend(TcpListener listener)
        {
            _listener = listener;
            _accepting = AcceptAsync();
        }

        public IPEndPoint EndPoint => (IPEndPoint)_listener.LocalEndpoint;

        public int Connections => Volatile.Read(ref _connections);

        public static Task<ResetFirstBackend> StartAsync()
        {
            var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            return Task.FromResult(new ResetFirstBackend(listener));
        }

        private async Task AcceptAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                Socket socket;
                try
                {
                    socket = await _listener.AcceptSocketAsync(_stop.Token);
                }
                catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
                {
                    return;
                }

                var number = Interlocked.Increment(ref _connections);
                _ = ServeAsync(socket, resetFirst: number == 1);
            }
        }

        private async Task ServeAsync(Socket socket, bool resetFirst)
        {
            using (socket)
            {
                var buffer = new byte[8192];
                var received = new StringBuilder();
                try
                {
                    while (true)
                    {
                        var read = await socket.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
                        if (read == 0)
                        {
                            return;
                        }

                        received.Append(Encoding.ASCII.GetString(buffer, 0, read));
                        while (received.ToString().IndexOf("\r\n\r\n", StringComparison.Ordinal) is var end and >= 0)
                        {
                            received.Remove(0, end + 4);
                            if (resetFirst)
                            {
                                socket.LingerState = new LingerOption(true, 0); // close with RST
                                return;
                            }

                            await socket.SendAsync(Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"), SocketFlags.None, _stop.Token);
                        }
                    }
                }
                catch (Exception e) when (e is OperationCanceledException or SocketException)
                {
                    // stopping, or the peer went away
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            await _accepting;
            _stop.Dispose();
        }
    }
}
