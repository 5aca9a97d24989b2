using System.Text.Json.Nodes;
using k8s.Models;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Waypoint.Controller.Client;
using Waypoint.Controller.Tests.Infrastructure;
using Waypoint.TestKit.Kubernetes;
using Xunit.Abstractions;

namespace Waypoint.Controller.Tests.Liveness;

/// <summary>Nothing the API server does (or fails to do) leaves the controller waiting forever.</summary>
public sealed class ControllerLivenessTests(ITestOutputHelper output) : IAsyncLifetime
{
    private ControllerHarness _h = null!;

    public async Task InitializeAsync()
    {
        _h = await ControllerHarness.StartAsync(output);
        _h.Create(FakeResourceType.Namespaces, Objects.Namespace("apps"));
        _h.Create(FakeResourceType.GatewayClasses, Objects.GatewayClass());
    }

    public async Task DisposeAsync() => await _h.DisposeAsync();

    [Fact]
    public async Task An_Api_Call_That_Is_Never_Answered_Fails_With_A_Timeout()
    {
        var time = new FakeTimeProvider();
        using var client = new KubernetesApiClient(_h.Server.CreateClientConfiguration(), TimeSpan.FromSeconds(30), time);
        _h.Server.HangRequests(_ => true);
        var call = client.GetAsync<V1Namespace>("/api/v1/namespaces/apps", CancellationToken.None);
        await Eventually.TrueAsync(() => _h.Server.HangingRequests == 1, "the request is held");
        Assert.False(call.IsCompleted);

        time.Advance(TimeSpan.FromSeconds(30));
        await EndsAsync(call);
        var failure = await Assert.ThrowsAsync<TimeoutException>(() => call);
        Assert.Contains("did not answer", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_Typed_Call_Is_Bounded_Too()
    {
        // The Lease lock of the leader elector uses KubernetesClient's typed API: the same timeout applies.
        var time = new FakeTimeProvider();
        using var client = new KubernetesApiClient(_h.Server.CreateClientConfiguration(), TimeSpan.FromSeconds(30), time);
        _h.Server.HangRequests(_ => true);
        var call = k8s.CoordinationV1OperationsExtensions.ReadNamespacedLeaseAsync(client.CoordinationV1, "lease", "waypoint-system");
        await Eventually.TrueAsync(() => _h.Server.HangingRequests == 1, "the request is held");
        time.Advance(TimeSpan.FromSeconds(30));
        await EndsAsync(call);
        var failure = await Assert.ThrowsAsync<TimeoutException>(() => call);
        Assert.Contains("did not answer", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_Silent_Watch_Is_Restarted_After_The_Idle_Timeout()
    {
        var time = new FakeTimeProvider();
        using var client = new KubernetesApiClient(_h.Server.CreateClientConfiguration(), TimeSpan.FromSeconds(30), time);
        var logs = new XunitLoggerProvider(output);
        var informer = new ResourceInformer<V1Namespace>(client, ResourceKind.Namespaces, new InformerOptions { WatchIdleTimeout = TimeSpan.FromMinutes(3) }, logs.CreateLogger("informer"), time);
        using var stop = new CancellationTokenSource();

        // The first watch gets its headers and then nothing, ever (a half-open connection): changes are not delivered.
        var watches = 0;
        _h.Server.StallWatches(r => Interlocked.Increment(ref watches) == 1);
        var run = Task.Run(() => informer.RunAsync(stop.Token));
        await informer.WaitForSyncAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(20));
        await Eventually.TrueAsync(() => _h.Server.StalledWatches == 1, "the watch is stalled");
        _h.Create(FakeResourceType.Namespaces, Objects.Namespace("late"));
        time.Advance(TimeSpan.FromMinutes(2));
        Assert.False(informer.TryGet(new NamespacedName("", "late"), out _));

        // Idle for the timeout: the informer drops the watch and watches again from its resourceVersion.
        time.Advance(TimeSpan.FromMinutes(1));
        await Eventually.TrueAsync(() => informer.TryGet(new NamespacedName("", "late"), out _), "the change arrives on the new watch");
        Assert.True(logs.HasEvent("WatchIdle"));
        Assert.Equal(1, _h.Server.CountRequests("GET", "namespaces"));
        await stop.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(20));
    }

    [Fact]
    public async Task Events_And_Bookmarks_Keep_A_Watch_Alive()
    {
        var time = new FakeTimeProvider();
        using var client = new KubernetesApiClient(_h.Server.CreateClientConfiguration(), TimeSpan.FromSeconds(30), time);
        var logs = new XunitLoggerProvider(output);
        var informer = new ResourceInformer<V1Namespace>(client, ResourceKind.Namespaces, new InformerOptions { WatchIdleTimeout = TimeSpan.FromMinutes(3) }, logs.CreateLogger("informer"), time);
        using var stop = new CancellationTokenSource();
        var run = Task.Run(() => informer.RunAsync(stop.Token));
        await informer.WaitForSyncAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(20));
        await Eventually.TrueAsync(() => _h.Store.OpenWatchCount(FakeResourceType.Namespaces) == 1, "watching");
        for (var i = 0; i < 4; i++)
        {
            // Each step moves the store's revision first, so that seeing it proves the watch delivered something:
            // a namespace (an event on this watch), or a Service (no event here, only the bookmark carries it).
            if (i % 2 == 0)
            {
                _h.Create(FakeResourceType.Services, Objects.Service($"bump-{i}"));
            }
            else
            {
                _h.Create(FakeResourceType.Namespaces, Objects.Namespace($"event-{i}"));
            }

            var revision = _h.Store.CurrentRevision.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (i % 2 == 0)
            {
                _h.Store.SendBookmarks();
            }

            await Eventually.TrueAsync(() => informer.ResourceVersion == revision, i % 2 == 0 ? "bookmark seen" : "event seen");
            time.Advance(TimeSpan.FromMinutes(2));
        }

        Assert.False(logs.HasEvent("WatchIdle"));
        Assert.Equal(1, _h.Store.OpenWatchCount(FakeResourceType.Namespaces));
        await stop.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(20));
    }

    [Fact]
    public async Task A_Hung_First_Lease_Acquire_Does_Not_Keep_The_Replica_From_Leading()
    {
        var first = 0;
        _h.Server.HangRequests(r => r.Path.Value!.Contains("/leases", StringComparison.Ordinal) && Interlocked.Exchange(ref first, 1) == 0);
        var replica = await _h.StartReplicaAsync(requestTimeout: TimeSpan.FromSeconds(5));
        _h.Create(FakeResourceType.Gateways, Objects.Gateway("waypoint"));
        await Eventually.TrueAsync(() => replica.Controller.IsLeader, "leads");
        await Eventually.TrueAsync(() => _h.Get(FakeResourceType.Deployments, "apps", "waypoint") is not null, "the leader reconciles");
        Assert.Equal(1, first);
        Assert.False(replica.Lifetime.StopRequested.IsCompleted);
    }

    [Fact]
    public async Task An_Exception_Inside_The_Elector_Stops_The_Host_While_The_Other_Loops_Run()
    {
        // The publisher and informers would run forever; the elector dies on a Lease it cannot read. Crash-only: the
        // controller must ask the host to stop instead of serving on without a leader loop.
        _h.Create(FakeResourceType.Leases, """{"metadata":{"name":"waypoint-controller","namespace":"waypoint-system"},"spec":{"holderIdentity":"x","renewTime":"not a time"}}""");
        var replica = await _h.StartReplicaAsync();
        await replica.Lifetime.StopRequested.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.True(replica.Logs.HasEvent("LoopFailed"));
        Assert.False(replica.Controller.IsLeader);
    }

    [Fact]
    public async Task A_Stopping_Leader_Releases_The_Lease()
    {
        var replica = await _h.StartReplicaAsync();
        await Eventually.TrueAsync(() => replica.Controller.IsLeader, "leads");
        await replica.StopAsync();
        Assert.Equal("", _h.Get(FakeResourceType.Leases, "waypoint-system", "waypoint-controller")!["spec"]!["holderIdentity"]!.GetValue<string>());
        Assert.False(replica.Lifetime.StopRequested.IsCompleted);
    }

    /// <summary>Waits (bounded, so a regression fails instead of hanging) for a task that must end by itself.</summary>
    private static async Task EndsAsync(Task task)
    {
        await Task.WhenAny(task, Task.Delay(TimeSpan.FromSeconds(20)));
        Assert.True(task.IsCompleted, "the call ended once its timeout passed");
    }
}
