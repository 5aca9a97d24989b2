using Microsoft.Extensions.Time.Testing;
using Waypoint.Controller.Queues;

namespace Waypoint.Controller.Tests.Queues;

public sealed class WorkQueueTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task Duplicate_Adds_Are_Queued_Once()
    {
        using var queue = new WorkQueue<string>(TimeProvider.System);
        queue.Add("a");
        queue.Add("b");
        queue.Add("a");
        Assert.Equal(2, queue.Count);
        Assert.Equal("a", (await queue.TryGetAsync(CancellationToken.None).WaitAsync(Timeout)).Item);
        Assert.Equal("b", (await queue.TryGetAsync(CancellationToken.None).WaitAsync(Timeout)).Item);
    }

    [Fact]
    public async Task Each_Take_Reports_How_Long_The_Item_Waited_Since_It_Was_Queued()
    {
        var time = new FakeTimeProvider();
        var waits = new List<TimeSpan>();
        using var queue = new WorkQueue<string>(time, waited: waits.Add);
        queue.Add("a");
        time.Advance(TimeSpan.FromSeconds(2));
        queue.Add("a"); // already queued: its wait still counts from the first add
        time.Advance(TimeSpan.FromSeconds(1));
        var (_, item) = await queue.TryGetAsync(CancellationToken.None).WaitAsync(Timeout);
        Assert.Equal([TimeSpan.FromSeconds(3)], waits);

        queue.Add("a"); // while processing: queued again only at Done, and waits from then
        time.Advance(TimeSpan.FromSeconds(5));
        queue.Done(item);
        time.Advance(TimeSpan.FromMilliseconds(250));
        await queue.TryGetAsync(CancellationToken.None).WaitAsync(Timeout);
        Assert.Equal([TimeSpan.FromSeconds(3), TimeSpan.FromMilliseconds(250)], waits);
    }

    [Fact]
    public async Task Item_Added_While_Processing_Is_Requeued_Only_After_Done()
    {
        using var queue = new WorkQueue<string>(TimeProvider.System);
        queue.Add("a");
        var (_, item) = await queue.TryGetAsync(CancellationToken.None).WaitAsync(Timeout);
        queue.Add("a");
        Assert.Equal(0, queue.Count);
        queue.Done(item);
        Assert.Equal(1, queue.Count);
        Assert.Equal("a", (await queue.TryGetAsync(CancellationToken.None).WaitAsync(Timeout)).Item);
    }

    [Fact]
    public async Task Rate_Limited_Items_Wait_Exponentially_And_Forget_Resets()
    {
        var time = new FakeTimeProvider();
        using var queue = new WorkQueue<string>(time, baseDelay: TimeSpan.FromSeconds(1));
        queue.AddRateLimited("a");
        queue.AddRateLimited("a");
        Assert.Equal(0, queue.Count);
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(1, queue.Count);
        var (_, item) = await queue.TryGetAsync(CancellationToken.None).WaitAsync(Timeout);
        queue.Done(item);
        Assert.Equal(2, queue.Failures("a"));
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(1, queue.Count); // the second add (2 s) fired

        queue.Forget("a");
        Assert.Equal(0, queue.Failures("a"));
    }

    [Fact]
    public async Task ShutDown_Releases_Waiters()
    {
        using var queue = new WorkQueue<string>(TimeProvider.System);
        var waiting = queue.TryGetAsync(CancellationToken.None);
        queue.ShutDown();
        Assert.False((await waiting.WaitAsync(Timeout)).Ok);
    }
}
