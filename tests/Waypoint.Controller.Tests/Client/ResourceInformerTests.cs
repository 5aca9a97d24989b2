using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging;
using Waypoint.Controller.Client;
using Waypoint.Controller.Tests.Infrastructure;
using Waypoint.TestKit.Kubernetes;
using Xunit.Abstractions;

namespace Waypoint.Controller.Tests.Client;

public sealed class ResourceInformerTests(ITestOutputHelper output) : IAsyncLifetime, IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentQueue<string> _events = new();
    private FakeKubernetesApiServer _server = null!;
    private KubernetesApiClient _client = null!;
    private XunitLoggerProvider _logs = null!;
    private ILoggerFactory _loggerFactory = null!;
    private Task _run = Task.CompletedTask;

    public async Task InitializeAsync()
    {
        _server = await FakeKubernetesApiServer.StartNewAsync();
        _client = new KubernetesApiClient(_server.CreateClientConfiguration());
        _logs = new XunitLoggerProvider(output);
        _loggerFactory = LoggerFactory.Create(b => b.AddProvider(_logs).SetMinimumLevel(LogLevel.Debug));
    }

    public async Task DisposeAsync()
    {
        await _stop.CancelAsync();
        await _run.WaitAsync(TimeSpan.FromSeconds(10));
        await _server.DisposeAsync();
    }

    public void Dispose()
    {
        _stop.Dispose();
        _client.Dispose();
        _loggerFactory.Dispose();
        _logs.Dispose();
    }

    [Fact]
    public async Task Lists_Then_Watches_And_Reports_Every_Change()
    {
        CreateService("a");
        var informer = Start<V1Service>(ResourceKind.Services);
        await informer.WaitForSyncAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(informer.TryGet(new NamespacedName("apps", "a"), out _));

        CreateService("b");
        _server.Store.Patch(FakeResourceType.Services, "apps", "a", JsonNode.Parse("""{"metadata":{"labels":{"x":"1"}}}""")!, status: false);
        _server.Store.Delete(FakeResourceType.Services, "apps", "b");
        await Eventually.TrueAsync(() => _events.Contains("Deleted apps/b"), "delete of b seen");
        Assert.Equal(["Added apps/a", "Added apps/b", "Modified apps/a", "Deleted apps/b"], _events);
        Assert.True(informer.TryGet(new NamespacedName("apps", "a"), out var a) && a.Metadata.Labels["x"] == "1");
    }

    [Fact]
    public async Task Gone_While_Disconnected_Relists_And_Reports_Deletions_Missed()
    {
        CreateService("a");
        CreateService("b");
        var informer = Start<V1Service>(ResourceKind.Services);
        await informer.WaitForSyncAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
        await Eventually.TrueAsync(() => _server.Store.OpenWatchCount(FakeResourceType.Services) == 1, "watching");

        // The API server goes away; meanwhile b is deleted, c created, and history compacted: the informer must relist.
        await _server.StopAsync();
        _server.Store.Delete(FakeResourceType.Services, "apps", "b");
        CreateService("c");
        _server.Store.Compact(expireOpenWatches: true);
        await _server.StartAsync();

        await Eventually.TrueAsync(() => _events.Contains("Deleted apps/b") && _events.Contains("Added apps/c"), "missed changes recovered");
        Assert.True(_logs.HasEvent("WatchExpired"));
        Assert.Equal(["apps/a", "apps/c"], informer.Items.Select(s => $"{s.Metadata.NamespaceProperty}/{s.Metadata.Name}").Order());
    }

    [Fact]
    public async Task Malformed_Watch_Lines_Are_Skipped_And_The_Watch_Goes_On()
    {
        var informer = Start<V1Service>(ResourceKind.Services);
        await informer.WaitForSyncAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
        await Eventually.TrueAsync(() => _server.Store.OpenWatchCount(FakeResourceType.Services) == 1, "watching");

        _server.Store.InjectRawWatchLine(FakeResourceType.Services, "{not json");
        _server.Store.InjectRawWatchLine(FakeResourceType.Services, """{"type":"ADDED","object":{"metadata":{"name":"bad","namespace":"apps"},"spec":{"ports":"not-a-list"}}}""");
        _server.Store.InjectRawWatchLine(FakeResourceType.Services, """{"type":"ADDED","object":{"metadata":{"namespace":"apps"}}}""");
        _server.Store.InjectRawWatchLine(FakeResourceType.Services, """{"kind":"nothing"}""");
        CreateService("good");

        await Eventually.TrueAsync(() => _events.Contains("Added apps/good"), "the valid object after the bad ones");
        Assert.Equal(4, _logs.Entries.Count(e => e.EventId.Name == "MalformedWatchEvent"));
        Assert.False(informer.TryGet(new NamespacedName("apps", "bad"), out _));
        Assert.Equal(1, _server.Store.OpenWatchCount(FakeResourceType.Services));
    }

    [Fact]
    public async Task Bookmarks_Advance_The_ResourceVersion()
    {
        var informer = Start<V1Service>(ResourceKind.Services);
        await informer.WaitForSyncAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
        await Eventually.TrueAsync(() => _server.Store.OpenWatchCount(FakeResourceType.Services) == 1, "watching");
        _server.Store.Create(FakeResourceType.ConfigMaps, "apps", JsonNode.Parse("""{"metadata":{"name":"unrelated"}}""")!.AsObject());
        var revision = _server.Store.CurrentRevision.ToString(System.Globalization.CultureInfo.InvariantCulture);
        Assert.NotEqual(revision, informer.ResourceVersion);
        _server.Store.SendBookmarks();
        await Eventually.TrueAsync(() => informer.ResourceVersion == revision, "bookmark applied");
    }

    [Fact]
    public async Task Resource_Not_Served_Syncs_Empty_And_Is_Picked_Up_When_Installed()
    {
        _server.Store.RemoveType(FakeResourceType.ServiceEntries);
        var informer = Start<JsonObjectEntity>(ResourceKind.ServiceEntries);
        await informer.WaitForSyncAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(informer.IsServed);
        Assert.Equal(0, informer.Count);

        _server.Store.AddType(FakeResourceType.ServiceEntries);
        _server.Store.Create(FakeResourceType.ServiceEntries, "apps", JsonNode.Parse("""{"metadata":{"name":"se"},"spec":{"hosts":["x.example"]}}""")!.AsObject());
        await Eventually.TrueAsync(() => informer.IsServed && informer.Count == 1, "the CRD's objects after install");
    }

    [Fact]
    public async Task Server_Errors_Back_Off_And_Recover()
    {
        var failures = 0;
        _server.FailRequests(r => r.Path.Value!.EndsWith("/services", StringComparison.Ordinal) && Interlocked.Increment(ref failures) <= 3 ? 500 : null);
        CreateService("a");
        var informer = Start<V1Service>(ResourceKind.Services);
        await informer.WaitForSyncAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(informer.TryGet(new NamespacedName("apps", "a"), out _));
        Assert.True(failures >= 3);
        Assert.True(_logs.HasEvent("InformerError"));
    }

    private ResourceInformer<T> Start<T>(ResourceKind kind)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        var informer = new ResourceInformer<T>(_client, kind, new InformerOptions
        {
            InitialBackoff = TimeSpan.FromMilliseconds(10),
            MaxBackoff = TimeSpan.FromMilliseconds(200),
            NotServedRetry = TimeSpan.FromMilliseconds(100),
        }, _loggerFactory.CreateLogger("informer"), TimeProvider.System);
        informer.AddHandler((type, obj) => _events.Enqueue($"{type} {obj.Metadata.NamespaceProperty}/{obj.Metadata.Name}"));
        _run = Task.Run(() => informer.RunAsync(_stop.Token));
        return informer;
    }

    private void CreateService(string name) =>
        Assert.True(_server.Store.Create(FakeResourceType.Services, "apps", JsonNode.Parse(Objects.Service(name))!.AsObject()).IsSuccess);
}

public sealed class JsonObjectEntity : IKubernetesObject<V1ObjectMeta>
{
    public string ApiVersion { get; set; } = "";

    public string Kind { get; set; } = "";

    public V1ObjectMeta Metadata { get; set; } = new();
}
