using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using Waypoint.Controller.Client;
using Waypoint.Controller.LeaderElection;
using Waypoint.Controller.Tests.Infrastructure;
using Waypoint.TestKit.Kubernetes;

namespace Waypoint.Controller.Tests.LeaderElection;

/// <summary>
/// KubernetesClient's LeaderElector on the fake API server's Lease. The elector measures time with the wall clock
/// (no TimeProvider), so these tests use short real lease periods and wait for outcomes, never for durations.
/// </summary>
public sealed class LeaderCampaignTests : IAsyncLifetime, IDisposable
{
    private FakeKubernetesApiServer _server = null!;
    private KubernetesApiClient _client = null!;

    public async Task InitializeAsync()
    {
        _server = await FakeKubernetesApiServer.StartNewAsync();
        _client = new KubernetesApiClient(_server.CreateClientConfiguration(), TimeSpan.FromSeconds(2), TimeProvider.System);
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    public void Dispose() => _client.Dispose();

    [Fact]
    public async Task One_Leader_At_A_Time_And_Takeover_After_The_Leader_Dies()
    {
        var a = Campaign("a", release: false);
        var b = Campaign("b", release: false);
        using var stopA = new CancellationTokenSource();
        using var stopB = new CancellationTokenSource();
        var leadingA = 0;
        var leadingB = 0;
        var runA = a.RunAsync(ct => Lead(() => Interlocked.Increment(ref leadingA), ct), stopA.Token);
        await Eventually.TrueAsync(() => a.IsLeader, "a leads");
        var runB = b.RunAsync(ct => Lead(() => Interlocked.Increment(ref leadingB), ct), stopB.Token);

        // b keeps trying (several retry periods) but never leads while a renews.
        await Eventually.TrueAsync(() => _server.CountRequests("GET", "leases") >= 15, "b campaigned for a while");
        Assert.False(b.IsLeader);
        Assert.Equal(0, leadingB);

        // a dies without releasing: b must wait for the lease to expire, then take over.
        await stopA.CancelAsync();
        await runA;
        await Eventually.TrueAsync(() => b.IsLeader, "b takes over", TimeSpan.FromSeconds(15));
        // IsLeader turns true as the leader's work is scheduled, so its start is awaited, not assumed.
        await Eventually.TrueAsync(() => Volatile.Read(ref leadingB) > 0, "b's leader work starts");
        Assert.Equal(1, Volatile.Read(ref leadingB));
        var lease = _server.Store.Get(FakeResourceType.Leases, "waypoint-system", "test-lease").Body;
        Assert.Equal("b", lease["spec"]!["holderIdentity"]!.GetValue<string>());
        Assert.Equal("1", lease["spec"]!["leaseTransitions"]!.ToJsonString());
        await stopB.CancelAsync();
        await runB;
    }

    [Fact]
    public async Task Leader_Steps_Down_When_Another_Holds_The_Lease_And_Releases_On_Shutdown()
    {
        var a = Campaign("a", release: true);
        using var stop = new CancellationTokenSource();
        var lost = new TaskCompletionSource();
        var run = a.RunAsync(async ct =>
        {
            try
            {
                await Task.Delay(Timeout.Infinite, ct);
            }
            catch (OperationCanceledException)
            {
                lost.TrySetResult();
            }
        }, stop.Token);
        await Eventually.TrueAsync(() => a.IsLeader, "a leads");

        // Someone else grabs the lease (e.g. after a network partition healed): a notices and stops its work.
        _server.Store.Patch(FakeResourceType.Leases, "waypoint-system", "test-lease",
            JsonNode.Parse("""{"spec":{"holderIdentity":"intruder"}}""")!, status: false);
        await lost.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(a.IsLeader);

        // Once the intruder's lease expires a leads again; on shutdown it releases the lease (empty holder, as client-go).
        await Eventually.TrueAsync(() => a.IsLeader, "a leads again", TimeSpan.FromSeconds(15));
        await stop.CancelAsync();
        await run;
        var lease = _server.Store.Get(FakeResourceType.Leases, "waypoint-system", "test-lease").Body;
        Assert.Equal("", lease["spec"]!["holderIdentity"]!.GetValue<string>());

        // A released Lease is free at once: another candidate takes it without waiting for expiry.
        var b = Campaign("b", release: false);
        using var stopB = new CancellationTokenSource();
        var runB = b.RunAsync(ct => Lead(() => { }, ct), stopB.Token);
        await Eventually.TrueAsync(() => b.IsLeader, "b takes the released lease");
        await stopB.CancelAsync();
        await runB;
    }

    [Fact]
    public async Task A_Hung_First_Acquire_Is_Abandoned_And_Retried()
    {
        // The first Lease read is never answered (a wedged connection): the campaign must not wait for it forever.
        var first = 0;
        _server.HangRequests(r => r.Method == "GET" && r.Path.Value!.Contains("/leases/", StringComparison.Ordinal) && Interlocked.Exchange(ref first, 1) == 0);
        var a = Campaign("a", release: false);
        using var stop = new CancellationTokenSource();
        var run = a.RunAsync(ct => Lead(() => { }, ct), stop.Token);
        await Eventually.TrueAsync(() => a.IsLeader, "a leads despite the hung first read");
        Assert.Equal(1, first);
        await stop.CancelAsync();
        await run;
    }

    [Fact]
    public async Task An_Unreachable_Api_Server_Is_Retried_Not_Fatal()
    {
        await _server.StopAsync();
        var a = Campaign("a", release: false);
        using var stop = new CancellationTokenSource();
        var run = a.RunAsync(ct => Lead(() => { }, ct), stop.Token);
        await _server.StartAsync();
        await Eventually.TrueAsync(() => a.IsLeader || run.IsCompleted, "leads once the server is back");
        Assert.False(run.IsFaulted, run.Exception?.ToString());
        Assert.True(a.IsLeader);
        await stop.CancelAsync();
        await run;
    }

    [Fact]
    public async Task An_Exception_Inside_The_Elector_Faults_The_Campaign()
    {
        // A Lease that does not deserialize is no API failure: the elector throws and the campaign must end (crash-only).
        _server.Store.Create(FakeResourceType.Leases, "waypoint-system", JsonNode.Parse("""{"metadata":{"name":"test-lease"},"spec":{"holderIdentity":"x","renewTime":"not a time"}}""")!.AsObject());
        var a = Campaign("a", release: false);
        var run = a.RunAsync(ct => Lead(() => { }, ct), CancellationToken.None);
        await Assert.ThrowsAnyAsync<Exception>(() => run.WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.True(run.IsFaulted);
    }

    [Fact]
    public async Task Failing_Leader_Work_Faults_The_Campaign()
    {
        var a = Campaign("a", release: false);
        var run = a.RunAsync(_ => throw new InvalidOperationException("leader work broke"), CancellationToken.None);
        var failure = await Assert.ThrowsAsync<InvalidOperationException>(() => run.WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.Equal("leader work broke", failure.Message);
    }

    private static async Task Lead(Action started, CancellationToken cancellationToken)
    {
        started();
        try
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private LeaderCampaign Campaign(string identity, bool release) => new(
        _client,
        new LeaderElectionOptions
        {
            Identity = identity,
            LeaseName = "test-lease",
            LeaseDuration = TimeSpan.FromSeconds(2),
            RenewDeadline = TimeSpan.FromSeconds(1.5),
            RetryPeriod = TimeSpan.FromMilliseconds(100),
            ReleaseOnCancel = release,
        },
        "waypoint-system",
        NullLogger.Instance);
}
