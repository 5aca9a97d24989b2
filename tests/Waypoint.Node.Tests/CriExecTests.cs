using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using Grpc.Core;
using Waypoint.Box.Network;
using Waypoint.Node.Cri.V1;

namespace Waypoint.Node.Tests;

/// <summary>
/// CRI <c>Exec</c> and the runtime's streaming server, driven as the kubelet drives them (the URL answered, then an
/// upgraded connection to it from inside the node's network namespace): what is refused, and the v5 protocol with its
/// close of stdin. The path through the real API server and kubelet is <c>BoxNodeTests</c>'.
/// </summary>
public sealed partial class CriRuntimeTests
{
    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task Exec_Answers_Single_Use_Urls_Refuses_Ttys_And_Spdy_V1_And_Streams_Over_V5()
    {
        await using var server = await CriServerProcess.StartAsync();
        var (sandboxId, config) = await RunSandboxAsync(server, "exec");
        var containerId = (await server.Runtime.CreateContainerAsync(new CreateContainerRequest
        {
            PodSandboxId = sandboxId,
            SandboxConfig = config,
            Config = new ContainerConfig
            {
                Metadata = new ContainerMetadata { Name = "exec" },
                Image = new ImageSpec { Image = "waypoint/echo" },
                Command = { "sleep", "1000" },
            },
        })).ContainerId;
        await server.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = containerId });

        var tty = await Assert.ThrowsAsync<RpcException>(async () => await server.Runtime.ExecAsync(new ExecRequest { ContainerId = containerId, Cmd = { "sh" }, Tty = true, Stdout = true }));
        Assert.Equal(StatusCode.InvalidArgument, tty.StatusCode);
        Assert.Contains("TTY", tty.Status.Detail, StringComparison.Ordinal);
        var unknown = await Assert.ThrowsAsync<RpcException>(async () => await server.Runtime.ExecAsync(new ExecRequest { ContainerId = "nope", Cmd = { "sh" }, Stdout = true }));
        Assert.Equal(StatusCode.NotFound, unknown.StatusCode);

        using var network = new BoxNetworkNamespace(server.NetworkNamespace);
        using var http = network.CreateHttpClient();

        // SPDY without a stream protocol (remotecommand v1), or a plain GET: refused, saying what is spoken; the URL is then spent.
        var first = new Uri((await server.Runtime.ExecAsync(new ExecRequest { ContainerId = containerId, Cmd = { "true" }, Stdout = true })).Url);
        Assert.Equal(IPAddress.Loopback.ToString(), first.Host);
        using (var spdy = new HttpRequestMessage(HttpMethod.Post, first))
        {
            spdy.Headers.Add("Upgrade", "SPDY/3.1");
            spdy.Headers.Add("Connection", "Upgrade");
            using var refused = await http.SendAsync(spdy);
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
            Assert.Contains("unable to negotiate protocol: client supports [], server supports [v5.channel.k8s.io v4.channel.k8s.io]", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync(first)).StatusCode);

        // v5: stdin frames reach the command, the client's close of stdin ends `cat`, the exit code comes back as status.
        var url = new Uri((await server.Runtime.ExecAsync(new ExecRequest { ContainerId = containerId, Cmd = { "sh", "-c", "cat; echo done >&2; exit 4" }, Stdin = true, Stdout = true, Stderr = true })).Url);
        using var socket = new ClientWebSocket();
        socket.Options.AddSubProtocol("v5.channel.k8s.io");
        using var invoker = new HttpMessageInvoker(network.CreateHandler());
        await socket.ConnectAsync(new UriBuilder(url) { Scheme = "ws" }.Uri, invoker, CancellationToken.None);
        Assert.Equal("v5.channel.k8s.io", socket.SubProtocol);
        await socket.SendAsync(new byte[] { 0, (byte)'h', (byte)'i', (byte)'\n' }, WebSocketMessageType.Binary, true, CancellationToken.None);
        await socket.SendAsync(new byte[] { 255, 0 }, WebSocketMessageType.Binary, true, CancellationToken.None);

        var channels = new Dictionary<byte, StringBuilder> { [1] = new(), [2] = new(), [3] = new() };
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var buffer = new byte[4096];
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer, limit.Token);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                break;
            }

            Assert.True(result.EndOfMessage);
            channels[buffer[0]].Append(Encoding.UTF8.GetString(buffer, 1, result.Count - 1));
        }

        Assert.Equal("hi\n", channels[1].ToString());
        Assert.Equal("done\n", channels[2].ToString());
        var status = JsonNode.Parse(channels[3].ToString())!;
        Assert.Equal(("Failure", "NonZeroExitCode"), (status["status"]!.GetValue<string>(), status["reason"]!.GetValue<string>()));
        Assert.Equal("4", status["details"]!["causes"]![0]!["message"]!.GetValue<string>());
    }
}
