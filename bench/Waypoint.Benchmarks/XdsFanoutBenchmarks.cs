using System.Net.Http;
using BenchmarkDotNet.Attributes;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Waypoint.TestKit.Xds;
using Waypoint.Xds;

namespace Waypoint.Benchmarks;

/// <summary>
/// Fan-out: N in-process ADS clients of one node group subscribed to clusters (wildcard); one snapshot change; time
/// until every client has received it and sent its ACK. Memory per connected client (server and client side, in one
/// process) is printed by the setup.
/// </summary>
[MemoryDiagnoser(displayGenColumns: false)]
public class XdsFanoutBenchmarks : IDisposable
{
    private const string Group = "bench.ns";
    private readonly List<GrpcChannel> _channels = [];
    private readonly List<IAsyncDisposable> _clients = [];
    private readonly List<Task> _loops = [];
    private TestXdsServer _server = null!;
    private XdsSnapshot[] _snapshots = [];
    private int _next;
    private int _acked;
    private TaskCompletionSource _allAcked = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private CancellationTokenSource _stop = new();

    [Params(1000)]
    public int Clients { get; set; }

    [Params(XdsProtocol.StateOfTheWorld, XdsProtocol.Delta)]
    public XdsProtocol Protocol { get; set; }

    [GlobalSetup]
    public void Setup() => SetupAsync().GetAwaiter().GetResult();

    [GlobalCleanup]
    public void Cleanup() => CleanupAsync().GetAwaiter().GetResult();

    [Benchmark]
    public async Task OneChange_AllClientsAck()
    {
        _acked = 0;
        _allAcked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _server.Cache.SetSnapshot(Group, _snapshots[_next++ % _snapshots.Length]);
        await _allAcked.Task.WaitAsync(TimeSpan.FromMinutes(2)).ConfigureAwait(false);
    }

    private async Task SetupAsync()
    {
        _snapshots = Enumerable.Range(0, 2).Select(v => XdsSnapshot.Create([], [],
            Enumerable.Range(0, 20).Select(i =>
            {
                var cluster = XdsTestResources.EdsCluster($"svc{i}");
                cluster.ConnectTimeout = Google.Protobuf.WellKnownTypes.Duration.FromTimeSpan(TimeSpan.FromMilliseconds(1000 + v));
                return cluster;
            }), [])).ToArray();
        _server = await TestXdsServer.StartAsync(configureServices: s => s.AddLogging(l => l.SetMinimumLevel(LogLevel.Warning))).ConfigureAwait(false);
        _server.Cache.SetSnapshot(Group, XdsSnapshot.Create([], [], [XdsTestResources.EdsCluster("initial")], []));

        GC.Collect();
        GC.WaitForPendingFinalizers();
        var before = GC.GetTotalMemory(forceFullCollection: true);
        var ready = 0;
        var allReady = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        for (var i = 0; i < Clients; i++)
        {
            if (i % 500 == 0)
            {
                _channels.Add(GrpcChannel.ForAddress(_server.Address, new GrpcChannelOptions
                {
                    HttpHandler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true },
                }));
            }

            var node = SotwAdsTestClient.Node($"pod-{i}", Group);
            Func<Task> receiveAndAck;
            if (Protocol == XdsProtocol.StateOfTheWorld)
            {
                var client = new SotwAdsTestClient(_channels[^1], node, _stop.Token);
                _clients.Add(client);
                await client.RequestAsync(XdsTypeUrls.Cluster).ConfigureAwait(false);
                receiveAndAck = async () => await client.AckAsync(await client.ReceiveAsync(TimeSpan.FromMinutes(10)).ConfigureAwait(false)).ConfigureAwait(false);
            }
            else
            {
                var client = new DeltaAdsTestClient(_channels[^1], node, _stop.Token);
                _clients.Add(client);
                await client.SubscribeAsync(XdsTypeUrls.Cluster).ConfigureAwait(false);
                receiveAndAck = async () => await client.AckAsync(await client.ReceiveAsync(TimeSpan.FromMinutes(10)).ConfigureAwait(false)).ConfigureAwait(false);
            }

            _loops.Add(Task.Run(async () =>
            {
                var first = true;
                while (!_stop.IsCancellationRequested)
                {
                    await receiveAndAck().ConfigureAwait(false);
                    Arrived(ref first, ref ready, allReady);
                }
            }));
        }

        await allReady.Task.WaitAsync(TimeSpan.FromMinutes(5)).ConfigureAwait(false);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var after = GC.GetTotalMemory(forceFullCollection: true);
        Console.WriteLine($"// xds-fanout {Protocol}: {Clients} clients connected; managed memory per client (server + client) = {(after - before) / (double)Clients / 1024:F1} KiB");
    }

    private void Arrived(ref bool first, ref int ready, TaskCompletionSource allReady)
    {
        if (first)
        {
            first = false;
            if (Interlocked.Increment(ref ready) == Clients)
            {
                allReady.TrySetResult();
            }

            return;
        }

        if (Interlocked.Increment(ref _acked) == Clients)
        {
            _allAcked.TrySetResult();
        }
    }

    public void Dispose()
    {
        _stop.Dispose();
        GC.SuppressFinalize(this);
    }

    private async Task CleanupAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        foreach (var client in _clients)
        {
            await client.DisposeAsync().ConfigureAwait(false);
        }

        await _server.DisposeAsync().ConfigureAwait(false);
        foreach (var channel in _channels)
        {
            channel.Dispose();
        }
    }
}
