using Waypoint.Box.Network;
using Waypoint.Node.Cri.V1;

namespace Waypoint.Node.Tests;

/// <summary>
/// The streaming server's SPDY/3.1 side, driven as the kubelet (for kubectl) drives it: an HTTP/1.1 upgrade from
/// inside the node's network namespace, then streams opened with SYN_STREAM and the remotecommand or port-forward
/// headers, by a client written with the node's frame and header codec. Exec: the error/stdin/stdout/stderr streams,
/// stdin's FIN as the end of input, the exit status on the error stream, GOAWAY. Port-forward: stream pairs by
/// requestID, HTTP and the TCP line echo of listeners bound to the pod's 127.0.0.1, a refused port's error text,
/// PING. The real kubectl through the API server and kubelet is the mesh box's <c>KubectlOnTheBoxTests</c>.
/// </summary>
public sealed partial class CriRuntimeTests
{
    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task Spdy_Exec_Streams_Stdin_Stdout_Stderr_And_Ends_With_The_Exit_Status_On_The_Error_Stream()
    {
        await using var server = await CriServerProcess.StartAsync();
        var (sandboxId, config) = await RunSandboxAsync(server, "spdyexec");
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
        using var network = new BoxNetworkNamespace(server.NetworkNamespace);
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(60));

        var url = new Uri((await server.Runtime.ExecAsync(new ExecRequest { ContainerId = containerId, Cmd = { "sh", "-c", "cat; echo done >&2; exit 4" }, Stdin = true, Stdout = true, Stderr = true })).Url);
        await using (var client = await SpdyTestClient.ConnectAsync(network, url, ["v5.channel.k8s.io", "v4.channel.k8s.io", "v3.channel.k8s.io"], limit.Token))
        {
            Assert.StartsWith("HTTP/1.1 101", client.Status, StringComparison.Ordinal);
            Assert.Equal("SPDY/3.1", client.ResponseHeaders["Upgrade"]);
            Assert.Equal("v5.channel.k8s.io", client.ResponseHeaders["X-Stream-Protocol-Version"]);
            var error = await client.OpenAsync(new Dictionary<string, string> { ["streamType"] = "error" }, fin: true, limit.Token);
            var stdin = await client.OpenAsync(new Dictionary<string, string> { ["streamType"] = "stdin" }, fin: false, limit.Token);
            var stdout = await client.OpenAsync(new Dictionary<string, string> { ["streamType"] = "stdout" }, fin: true, limit.Token);
            var stderr = await client.OpenAsync(new Dictionary<string, string> { ["streamType"] = "stderr" }, fin: true, limit.Token);
            await client.ReadUntilAsync(c => c.Replied.SetEquals([error, stdin, stdout, stderr]), limit.Token);

            await client.SendAsync(stdin, "hello over spdy\n", fin: false, limit.Token);
            await client.ReadUntilAsync(c => c.Text(stdout) == "hello over spdy\n", limit.Token); // `cat` runs: its output comes before stdin ends.
            await client.SendAsync(stdin, string.Empty, fin: true, limit.Token);
            await client.ReadUntilAsync(c => c.Finished.IsSupersetOf([error, stdout, stderr]) && c.GoAway, limit.Token);

            Assert.Equal("hello over spdy\n", client.Text(stdout));
            Assert.Equal("done\n", client.Text(stderr));
            var status = client.Text(error);
            Assert.Contains("\"reason\":\"NonZeroExitCode\"", status, StringComparison.Ordinal);
            Assert.Contains("\"message\":\"4\"", status, StringComparison.Ordinal);
            Assert.Empty(client.Reset);
        }

        // Success: the status says so; without stdin the stream is not awaited.
        var ok = new Uri((await server.Runtime.ExecAsync(new ExecRequest { ContainerId = containerId, Cmd = { "echo", "fine" }, Stdout = true })).Url);
        await using (var client = await SpdyTestClient.ConnectAsync(network, ok, ["v4.channel.k8s.io"], limit.Token))
        {
            Assert.Equal("v4.channel.k8s.io", client.ResponseHeaders["X-Stream-Protocol-Version"]);
            var error = await client.OpenAsync(new Dictionary<string, string> { ["streamType"] = "error" }, fin: true, limit.Token);
            var stdout = await client.OpenAsync(new Dictionary<string, string> { ["streamType"] = "stdout" }, fin: true, limit.Token);
            await client.ReadUntilAsync(c => c.Finished.IsSupersetOf([error, stdout]) && c.GoAway, limit.Token);
            Assert.Equal("fine\n", client.Text(stdout));
            Assert.Equal("""{"metadata":{},"status":"Success"}""", client.Text(error));
        }
    }

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task Spdy_Port_Forward_Pairs_Streams_By_Request_Id_Inside_The_Pod_And_Reports_Refused_Ports()
    {
        await using var server = await CriServerProcess.StartAsync();
        var (sandboxId, config) = await RunSandboxAsync(server, "spdyforward");
        var netns = (await server.Runtime.PodSandboxStatusAsync(new PodSandboxStatusRequest { PodSandboxId = sandboxId, Verbose = true })).Info["netns"];
        var containerId = (await server.Runtime.CreateContainerAsync(new CreateContainerRequest
        {
            PodSandboxId = sandboxId,
            SandboxConfig = config,
            Config = new ContainerConfig
            {
                Metadata = new ContainerMetadata { Name = "echo" },
                Image = new ImageSpec { Image = "waypoint/echo" },
                Args = { "--address", "127.0.0.1", "--http-port", "8080", "--tcp-port", "9000", "--pod", "spdy-forwarded" },
            },
        })).ContainerId;
        await server.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = containerId });
        await EventuallyAsync(() => server.InBoxAsync("nsenter", $"--net={netns}", "curl", "-sf", "-m", "5", "http://127.0.0.1:8080/ready"), r => r.ExitCode == 0);
        using var network = new BoxNetworkNamespace(server.NetworkNamespace);
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(60));

        // kubectl's request names no ports: they come with each stream pair.
        var url = new Uri((await server.Runtime.PortForwardAsync(new PortForwardRequest { PodSandboxId = sandboxId })).Url);
        await using var client = await SpdyTestClient.ConnectAsync(network, url, ["portforward.k8s.io"], limit.Token);
        Assert.StartsWith("HTTP/1.1 101", client.Status, StringComparison.Ordinal);
        Assert.Equal("portforward.k8s.io", client.ResponseHeaders["X-Stream-Protocol-Version"]);

        // HTTP through port 8080: error stream first (closed by the client at once, as kubectl does), then data.
        var error = await client.OpenAsync(Pair("error", 8080, 0), fin: true, limit.Token);
        var data = await client.OpenAsync(Pair("data", 8080, 0), fin: false, limit.Token);
        // No FIN from the client (kubectl sends it once its local connection closes): the pod closing ends the pair.
        await client.SendAsync(data, "GET /through-spdy HTTP/1.1\r\nHost: pod\r\nConnection: close\r\n\r\n", fin: false, limit.Token);
        await client.ReadUntilAsync(c => c.Finished.IsSupersetOf([error, data]), limit.Token);
        Assert.Superset(new HashSet<uint> { error, data }, client.Replied);
        var response = client.Text(data);
        Assert.StartsWith("HTTP/1.1 200", response, StringComparison.Ordinal);
        Assert.Contains("\"path\":\"/through-spdy\"", response.Replace(" ", string.Empty, StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.Contains("spdy-forwarded", response, StringComparison.Ordinal);
        Assert.Equal(string.Empty, client.Text(error));

        // Port 9 (nothing listens in the pod): the kubelet's error text on the pair's error stream.
        var refusedError = await client.OpenAsync(Pair("error", 9, 1), fin: true, limit.Token);
        var refusedData = await client.OpenAsync(Pair("data", 9, 1), fin: false, limit.Token);
        await client.ReadUntilAsync(c => c.Finished.Contains(refusedError), limit.Token);
        Assert.StartsWith($"error forwarding port 9 to pod {sandboxId}", client.Text(refusedError), StringComparison.Ordinal);
        Assert.Contains("Connection refused", client.Text(refusedError), StringComparison.Ordinal);
        Assert.Equal(string.Empty, client.Text(refusedData));

        // The same connection goes on: the TCP line echo on 9000 answers while its data stream stays open; PING is echoed.
        var lineError = await client.OpenAsync(Pair("error", 9000, 2), fin: true, limit.Token);
        var lineData = await client.OpenAsync(Pair("data", 9000, 2), fin: false, limit.Token);
        await client.SendAsync(lineData, "ping\n", fin: false, limit.Token);
        await client.PingAsync(7, limit.Token);
        var pings = await client.ReadUntilAsync(c => c.Text(lineData).Contains("ping\n", StringComparison.Ordinal), limit.Token);
        Assert.DoesNotContain(lineData, client.Finished);
        pings.AddRange(await client.ReadUntilAsync(_ => pings.Count > 0, limit.Token));
        Assert.Equal([7u], pings);
        Assert.Empty(client.Reset);
    }

    private static Dictionary<string, string> Pair(string type, int port, int requestId) => new()
    {
        ["streamType"] = type,
        ["port"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["requestID"] = requestId.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}
