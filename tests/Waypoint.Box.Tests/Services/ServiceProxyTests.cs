using System.Collections.Immutable;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Waypoint.Box.Services;

namespace Waypoint.Box.Tests.Services;

/// <summary>
/// The kube-proxy role's forwarding with real sockets on a loopback address of the test's own (127.x.y.z): round robin,
/// endpoints changing under a bound VIP, listeners closed, half-close in both directions, unreachable endpoints, stop.
/// </summary>
public sealed class ServiceProxyTests : IAsyncDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly IPAddress _address = new([127, 54, (byte)Random.Shared.Next(1, 255), (byte)Random.Shared.Next(1, 255)]);
    private readonly List<NamedBackend> _backends = [];
    private readonly ServiceProxy _proxy;

    public ServiceProxyTests() =>
        _proxy = new ServiceProxy(new ServiceProxyMetrics(_services.GetRequiredService<IMeterFactory>()), NullLogger<ServiceProxy>.Instance);

    public async ValueTask DisposeAsync()
    {
        await _proxy.DisposeAsync();
        foreach (var backend in _backends)
        {
            await backend.DisposeAsync();
        }

        await _services.DisposeAsync();
    }

    [Fact]
    public async Task New_Connections_Go_Round_Robin_And_Follow_Endpoint_Changes_And_A_Removed_Route_Closes_Its_Listener()
    {
        var a = StartBackend("a");
        var b = StartBackend("b");
        var frontend = FreeFrontend();
        await _proxy.ApplyAsync(Table(frontend, a, b), CancellationToken.None);

        var names = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            names.Add(await GreetingAsync(frontend));
        }

        Assert.Equal(2, names.Count(n => n == "a"));
        Assert.Equal(2, names.Count(n => n == "b"));

        await _proxy.ApplyAsync(Table(frontend, b), CancellationToken.None);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal("b", await GreetingAsync(frontend));
        }

        await _proxy.ApplyAsync(ServiceProxyTable.Empty, CancellationToken.None);
        Assert.Empty(_proxy.Bound);
        var refused = await Assert.ThrowsAsync<SocketException>(() => ConnectAsync(frontend));
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
    }

    [Fact]
    public async Task Applying_The_Same_Table_Twice_Keeps_The_Listener_And_Its_Connections()
    {
        var a = StartBackend("a");
        var frontend = FreeFrontend();
        var table = Table(frontend, a);
        await _proxy.ApplyAsync(table, CancellationToken.None);
        using var open = await ConnectAsync(frontend);
        Assert.Equal("a", await ReadLineAsync(open));

        await _proxy.ApplyAsync(table, CancellationToken.None);

        Assert.Equal([frontend], _proxy.Bound);
        await open.SendAsync(Encoding.ASCII.GetBytes("still here"));
        open.Shutdown(SocketShutdown.Send);
        Assert.Equal("still here", await ReadToEndAsync(open));
    }

    [Fact]
    public async Task Half_Close_Passes_Through_In_Both_Directions()
    {
        var echo = StartBackend("echo");
        var frontend = FreeFrontend();
        await _proxy.ApplyAsync(Table(frontend, echo), CancellationToken.None);
        using var client = await ConnectAsync(frontend);
        Assert.Equal("echo", await ReadLineAsync(client));

        // The client ends its half; the backend sees end of stream only then, answers all it read, and ends its half.
        await client.SendAsync(Encoding.ASCII.GetBytes("ping-1 "));
        await client.SendAsync(Encoding.ASCII.GetBytes("ping-2"));
        client.Shutdown(SocketShutdown.Send);

        Assert.Equal("ping-1 ping-2", await ReadToEndAsync(client));
        Assert.Equal("ping-1 ping-2", await echo.FirstReceivedAsync);
    }

    [Fact]
    public async Task A_Connection_No_Endpoint_Accepts_Is_Reset_And_Counted()
    {
        using var collector = new MetricCollector<long>(_services.GetRequiredService<IMeterFactory>(), ServiceProxyMetrics.MeterName, "waypoint.box.service_proxy.connections");
        var frontend = FreeFrontend();
        var nobody = FreeFrontend(); // bound by no one: connecting there is refused
        await _proxy.ApplyAsync(ServiceProxyTableFor(frontend, [nobody]), CancellationToken.None);

        var buffer = new byte[16];
        // The proxy accepts, fails to reach the backend and resets, possibly before the client has seen its own
        // connect complete: a reset may surface from the connect as well as from the read.
        var ended = await Record.ExceptionAsync(async () =>
        {
            using var client = await ConnectAsync(frontend);
            var read = await client.ReceiveAsync(buffer);
            Assert.Equal(0, read);
        });

        Assert.True(ended is null or SocketException { SocketErrorCode: SocketError.ConnectionReset }, ended?.ToString());
        await collector.WaitForMeasurementsAsync(1, TimeSpan.FromSeconds(30));
        Assert.Contains(collector.GetMeasurementSnapshot(), m => m.Value == 1 && (string?)m.Tags["outcome"] == "backend_unreachable");
    }

    [Fact]
    public async Task Stopping_The_Proxy_Ends_Open_Connections_And_Frees_The_Port()
    {
        var a = StartBackend("a");
        var frontend = FreeFrontend();
        await _proxy.ApplyAsync(Table(frontend, a), CancellationToken.None);
        using var client = await ConnectAsync(frontend);
        Assert.Equal("a", await ReadLineAsync(client));

        await _proxy.DisposeAsync();

        var buffer = new byte[16];
        var ended = await Record.ExceptionAsync(async () => Assert.Equal(0, await client.ReceiveAsync(buffer)));
        Assert.True(ended is null or SocketException { SocketErrorCode: SocketError.ConnectionReset }, ended?.ToString());
        using var rebound = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        rebound.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        rebound.Bind(frontend);
    }

    private static ServiceProxyTable Table(IPEndPoint frontend, params NamedBackend[] backends) =>
        ServiceProxyTableFor(frontend, [.. backends.Select(b => b.EndPoint)]);

    /// <summary>A table with one route, made the way the box makes it: from a Service and an EndpointSlice.</summary>
    private static ServiceProxyTable ServiceProxyTableFor(IPEndPoint frontend, IPEndPoint[] backends) =>
        ServiceProxyTable.Build(
            [new k8s.Models.V1Service
            {
                Metadata = new k8s.Models.V1ObjectMeta { Name = "svc", NamespaceProperty = "test" },
                Spec = new k8s.Models.V1ServiceSpec { ClusterIP = frontend.Address.ToString(), Ports = [new k8s.Models.V1ServicePort { Name = "tcp", Port = frontend.Port }] },
            }],
            [.. backends.Select((b, i) => new k8s.Models.V1EndpointSlice
            {
                Metadata = new k8s.Models.V1ObjectMeta { Name = $"svc-{i}", NamespaceProperty = "test", Labels = new Dictionary<string, string> { ["kubernetes.io/service-name"] = "svc" } },
                AddressType = "IPv4",
                Ports = [new k8s.Models.Discoveryv1EndpointPort { Name = "tcp", Port = b.Port }],
                Endpoints = [new k8s.Models.V1Endpoint { Addresses = [b.Address.ToString()] }],
            })],
            new Dictionary<string, IReadOnlyDictionary<string, string>>(),
            new HashSet<string>());

    private NamedBackend StartBackend(string name)
    {
        var backend = new NamedBackend(name, new IPEndPoint(_address, 0));
        _backends.Add(backend);
        return backend;
    }

    private IPEndPoint FreeFrontend()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(_address, 0));
        return (IPEndPoint)probe.LocalEndPoint!;
    }

    private static async Task<Socket> ConnectAsync(IPEndPoint endPoint)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await socket.ConnectAsync(endPoint);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static async Task<string> GreetingAsync(IPEndPoint frontend)
    {
        using var socket = await ConnectAsync(frontend);
        return await ReadLineAsync(socket);
    }

    private static async Task<string> ReadLineAsync(Socket socket)
    {
        var line = new StringBuilder();
        var one = new byte[1];
        while (await socket.ReceiveAsync(one) == 1 && one[0] != '\n')
        {
            line.Append((char)one[0]);
        }

        return line.ToString();
    }

    private static async Task<string> ReadToEndAsync(Socket socket)
    {
        var text = new StringBuilder();
        var buffer = new byte[256];
        int read;
        while ((read = await socket.ReceiveAsync(buffer)) > 0)
        {
            text.Append(Encoding.ASCII.GetString(buffer, 0, read));
        }

        return text.ToString();
    }

    /// <summary>
    /// A TCP server that greets each connection with its name and a newline, then reads until the client ends its
    /// half and only then sends back everything it read and ends its own half.
    /// </summary>
    private sealed class NamedBackend : IAsyncDisposable
    {
        private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        private readonly CancellationTokenSource _stop = new();
        private readonly TaskCompletionSource<string> _firstReceived = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly Task _loop;

        public NamedBackend(string name, IPEndPoint endPoint)
        {
            _listener.Bind(endPoint);
            _listener.Listen();
            EndPoint = (IPEndPoint)_listener.LocalEndPoint!;
            _loop = AcceptAsync(name);
        }

        public IPEndPoint EndPoint { get; }

        public Task<string> FirstReceivedAsync => _firstReceived.Task;

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Dispose();
            await _loop;
            _stop.Dispose();
        }

        private async Task AcceptAsync(string name)
        {
            try
            {
                while (true)
                {
                    var client = await _listener.AcceptAsync(_stop.Token);
                    _ = ServeAsync(client, name);
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
            }
        }

        private async Task ServeAsync(Socket client, string name)
        {
            using (client)
            {
                try
                {
                    await client.SendAsync(Encoding.ASCII.GetBytes(name + "\n"));
                    var received = await ReadToEndAsync(client);
                    _firstReceived.TrySetResult(received);
                    await client.SendAsync(Encoding.ASCII.GetBytes(received));
                    client.Shutdown(SocketShutdown.Send);
                }
                catch (SocketException)
                {
                }
            }
        }
    }
}
