using Microsoft.Extensions.Logging.Abstractions;
using Waypoint.Controller.Client;
using Waypoint.Controller.LeaderElection;
using Waypoint.Controller.Tests.Infrastructure;
using Waypoint.TestKit.Kubernetes;

namespace Waypoint.Controller.Tests.LeaderElection;

public sealed class LeaseLeaderElectorTests : IAsyncLifetime, IDisposable
{
    private FakeKubernetesApiServer _server = null!;
    private KubernetesApiClient _client = null!;

    public async Task InitializeAsync()
    {
        _server = await FakeKubernetesApiServer.StartNewAsync();
        _client = new KubernetesApiClient(_server.CreateClientConfiguration());
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    public void Dispose() => _client.Dispose();

    [Fact]
    public async Task One_Leader_At_A_Time_And_Takeover_After_The_Leader_Dies()
    {
        var a = Elector("a", release: false);
        var b = Elector("b", release: false);
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
        Assert.Equal(1, leadingB);
        var lease = _server.Store.Get(FakeResourceType.Leases, "waypoint-system", "test-lease").Body;
        Assert.Equal("b", lease["spec"]!["holderIdentity"]!.GetValue<string>());
        Assert.Equal("1", lease["spec"]!["leaseTransitions"]!.ToJsonString());
        await stopB.CancelAsync();
        await runB;
    }

    [Fact]
    public async Task Leader_Steps_Down_When_It_Cannot_Renew_And_Releases_On_Shutdown()
    {
        var a = Elector("a", release: true);
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
            System.Text.Json.Nodes.JsonNode.Parse("""{"spec":{"holderIdentity":"intruder"}}""")!, status: false);
        await lost.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(a.IsLeader);

        // Once the intruder's lease expires a leads again; on shutdown it releases the lease.
        await Eventually.TrueAsync(() => a.IsLeader, "a leads again", TimeSpan.FromSeconds(15));
        await stop.CancelAsync();
        await run;
        var lease = _server.Store.Get(FakeResourceType.Leases, "waypoint-system", "test-lease").Body;
        Assert.Null(lease["spec"]!["holderIdentity"]);
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

    private LeaseLeaderElector Elector(string identity, bool release) => new(
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
        TimeProvider.System,
        NullLogger.Instance);
}
