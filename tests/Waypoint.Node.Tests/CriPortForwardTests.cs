using System.Buffers.Binary;
using System.Net;
using System.Net.WebSockets;
using System.Text;
using Grpc.Core;
using Waypoint.Box.Network;
using Waypoint.Node.Cri.V1;

namespace Waypoint.Node.Tests;

/// <summary>
/// CRI <c>PortForward</c> and the streaming server's WebSocket port-forward, driven as the kubelet drives them (the
/// URL answered, then an upgraded connection to it from inside the node's network namespace) with a real WebSocket
/// client: the port prefixes, data both ways to listeners bound to 127.0.0.1 <em>inside the pod</em> (unreachable from
/// the node), the error channel of a port nothing listens on, the base64 protocol, and what is refused. The path
/// through the real API server and kubelet is <c>BoxNodeTests</c>' and the mesh box's CLI tests'.
/// </summary>
public sealed partial class CriRuntimeTests
{
    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task PortForward_Connects_Inside_The_Pod_Reports_Refused_Ports_On_The_Error_Channel_And_Speaks_Base64()
    {
        await using var server = await CriServerProcess.StartAsync();
        var (sandboxId, config) = await RunSandboxAsync(server, "forward");
        var netns = (await server.Runtime.PodSandboxStatusAsync(new PodSandboxStatusRequest { PodSandboxId = sandboxId, Verbose = true })).Info["netns"];
        var containerId = (await server.Runtime.CreateContainerAsync(new CreateContainerRequest
        {
            PodSandboxId = sandboxId,
            SandboxConfig = config,
            Config = new ContainerConfig
            {
                Metadata = new ContainerMetadata { Name = "echo" },
                Image = new ImageSpec { Image = "waypoint/echo" },
                Args = { "--address", "127.0.0.1", "--http-port", "8080", "--tcp-port", "9000", "--pod", "forwarded" },
            },
        })).ContainerId;
        await server.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = containerId });
        await EventuallyAsync(() => server.InBoxAsync("nsenter", $"--net={netns}", "curl", "-sf", "-m", "5", "http://127.0.0.1:8080/ready"), r => r.ExitCode == 0);
        // The node's own loopback has nothing there: what answers below is the pod's.
        Assert.NotEqual(0, (await server.InBoxAsync("curl", "-sf", "-m", "5", "http://127.0.0.1:8080/ready")).ExitCode);

        var unknown = await Assert.ThrowsAsync<RpcException>(async () => await server.Runtime.PortForwardAsync(new PortForwardRequest { PodSandboxId = "nope", Port = { 8080 } }));
        Assert.Equal(StatusCode.NotFound, unknown.StatusCode);
        var badPort = await Assert.ThrowsAsync<RpcException>(async () => await server.Runtime.PortForwardAsync(new PortForwardRequest { PodSandboxId = sandboxId, Port = { 70000 } }));
        Assert.Equal(StatusCode.InvalidArgument, badPort.StatusCode);

        using var network = new BoxNetworkNamespace(server.NetworkNamespace);
        using var http = network.CreateHttpClient();
        using var invoker = new HttpMessageInvoker(network.CreateHandler());
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(60));

        // SPDY asking for a stream protocol that is not port-forward's: refused as the kubelet refuses it; the URL is then spent.
        var spdyUrl = new Uri((await server.Runtime.PortForwardAsync(new PortForwardRequest { PodSandboxId = sandboxId, Port = { 8080 } })).Url);
        Assert.StartsWith("/portforward/", spdyUrl.AbsolutePath, StringComparison.Ordinal);
        using (var spdy = new HttpRequestMessage(HttpMethod.Post, spdyUrl))
        {
            spdy.Headers.Add("Upgrade", "SPDY/3.1");
            spdy.Headers.Add("Connection", "Upgrade");
            spdy.Headers.Add("X-Stream-Protocol-Version", "v4.channel.k8s.io");
            using var refused = await http.SendAsync(spdy, limit.Token);
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
            Assert.Contains("unable to negotiate protocol: client supports [v4.channel.k8s.io], server supports [portforward.k8s.io]", await refused.Content.ReadAsStringAsync(limit.Token), StringComparison.Ordinal);
        }

        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync(spdyUrl, limit.Token)).StatusCode);

        // v4 binary, two ports: HTTP to the pod's 127.0.0.1:8080 on channel 0; port 9 (nothing listens) fails on channel 3.
        var url = new Uri((await server.Runtime.PortForwardAsync(new PortForwardRequest { PodSandboxId = sandboxId, Port = { 8080, 9 } })).Url);
        using (var socket = new ClientWebSocket())
        {
            socket.Options.AddSubProtocol("v4.channel.k8s.io");
            await socket.ConnectAsync(new UriBuilder(url) { Scheme = "ws" }.Uri, invoker, limit.Token);
            Assert.Equal("v4.channel.k8s.io", socket.SubProtocol);
            await socket.SendAsync(Frame(0, "GET /through-the-forward HTTP/1.1\r\nHost: pod\r\nConnection: close\r\n\r\n"), WebSocketMessageType.Binary, true, limit.Token);

            var channels = await ReceiveUntilCloseAsync(socket, base64: false, limit.Token);
            Assert.Equal(WebSocketCloseStatus.NormalClosure, socket.CloseStatus); // The server closes once both ports are done.
            Assert.Equal([0, 1, 2, 3], channels.Keys.Order());
            foreach (var (channel, expected) in new[] { (0, 8080), (1, 8080), (2, 9), (3, 9) })
            {
                Assert.True(channels[channel].Count >= 2, $"channel {channel} had no port prefix");
                Assert.Equal(expected, BinaryPrimitives.ReadUInt16LittleEndian(channels[channel].ToArray()));
            }

            var response = Encoding.UTF8.GetString(channels[0].ToArray(), 2, channels[0].Count - 2);
            Assert.StartsWith("HTTP/1.1 200", response, StringComparison.Ordinal);
            Assert.Contains("\"path\":\"/through-the-forward\"", response.Replace(" ", string.Empty, StringComparison.Ordinal), StringComparison.Ordinal);
            Assert.Contains("forwarded", response, StringComparison.Ordinal);
            Assert.Equal(2, channels[1].Count); // No error for the port that worked.
            Assert.Empty(channels[2].Skip(2));
            var error = Encoding.UTF8.GetString(channels[3].ToArray(), 2, channels[3].Count - 2);
            Assert.StartsWith($"error forwarding port 9 to pod {sandboxId}", error, StringComparison.Ordinal);
            Assert.Contains("Connection refused", error, StringComparison.Ordinal);
        }

        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync(url, limit.Token)).StatusCode);

        // v4 base64: text frames, '0' + base64; the TCP line echo answers; the client's close ends the session.
        var lineUrl = new Uri((await server.Runtime.PortForwardAsync(new PortForwardRequest { PodSandboxId = sandboxId, Port = { 9000 } })).Url);
        using (var socket = new ClientWebSocket())
        {
            socket.Options.AddSubProtocol("v4.base64.channel.k8s.io");
            await socket.ConnectAsync(new UriBuilder(lineUrl) { Scheme = "ws" }.Uri, invoker, limit.Token);
            Assert.Equal("v4.base64.channel.k8s.io", socket.SubProtocol);
            await socket.SendAsync(Encoding.ASCII.GetBytes("0" + Convert.ToBase64String(Encoding.UTF8.GetBytes("ping\n"))), WebSocketMessageType.Text, true, limit.Token);
            var received = new List<byte>();
            var buffer = new byte[4096];
            var prefixes = 0;
            while (!Encoding.UTF8.GetString([.. received]).Contains("ping\n", StringComparison.Ordinal))
            {
                var result = await socket.ReceiveAsync(buffer, limit.Token);
                Assert.Equal(WebSocketMessageType.Text, result.MessageType);
                var text = Encoding.ASCII.GetString(buffer, 0, result.Count);
                var data = Convert.FromBase64String(text[1..]);
                if (data.Length == 2 && BinaryPrimitives.ReadUInt16LittleEndian(data) == 9000 && prefixes < 2)
                {
                    prefixes++;
                    continue;
                }

                Assert.Equal('0', text[0]);
                received.AddRange(data);
            }

            Assert.Equal(2, prefixes);
            await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, limit.Token);
            Assert.Equal(WebSocketState.Closed, socket.State);
        }
    }

    private static byte[] Frame(byte channel, string data) => [channel, .. Encoding.UTF8.GetBytes(data)];

    private static async Task<Dictionary<int, List<byte>>> ReceiveUntilCloseAsync(ClientWebSocket socket, bool base64, CancellationToken cancellationToken)
    {
        var channels = new Dictionary<int, List<byte>>();
        var buffer = new byte[64 * 1024];
        while (true)
        {
            using var message = new MemoryStream();
            WebSocketReceiveResult result;
            do
            {
                result = await socket.ReceiveAsync(buffer, cancellationToken);
                message.Write(buffer, 0, result.Count);
            }
            while (!result.EndOfMessage);

            if (result.MessageType == WebSocketMessageType.Close)
            {
                return channels;
            }

            var frame = message.ToArray();
            var (channel, data) = base64 ? (frame[0] - '0', Convert.FromBase64String(Encoding.ASCII.GetString(frame, 1, frame.Length - 1))) : (frame[0], frame[1..]);
            if (!channels.TryGetValue(channel, out var bytes))
            {
                channels[channel] = bytes = [];
            }

            bytes.AddRange(data);
        }
    }
}
