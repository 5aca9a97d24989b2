using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace Waypoint.Box.Tests;

public sealed class BoxStartTimelineTests
{
    private static readonly DateTimeOffset Start = new(2026, 12, 2, 14, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Milestones_are_logged_once_with_the_time_since_the_start_and_listed_in_time_order()
    {
        var time = new FakeTimeProvider(Start);
        using var logs = new RecordingLoggerProvider();
        using var factory = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Information));
        var timeline = new BoxStartTimeline(factory, Start, time);

        time.Advance(TimeSpan.FromMilliseconds(1500));
        Assert.True(timeline.Mark("etcd ready", "pid 42"));
        time.Advance(TimeSpan.FromMilliseconds(2250));
        Assert.True(timeline.Mark("kube-apiserver ready"));
        Assert.False(timeline.Mark("etcd ready"));
        // A time read from the cluster, earlier than the last mark: sorted into place.
        Assert.True(timeline.MarkAt("node box-node registered", Start.AddSeconds(3)));

        Assert.Equal(
            [("etcd ready", 1500.0), ("node box-node registered", 3000.0), ("kube-apiserver ready", 3750.0)],
            timeline.Milestones.Select(m => (m.Name, m.Elapsed.TotalMilliseconds)));
        Assert.Equal(
            ["start +1500 ms: etcd ready pid 42", "start +3750 ms: kube-apiserver ready ", "start +3000 ms: node box-node registered "],
            logs.Messages.Where(m => m.Category == BoxStartTimeline.LoggerCategory).Select(m => m.Text));
        Assert.True(timeline.Has("kube-apiserver ready"));
        Assert.False(timeline.Has("istiod ready"));
    }

    [Fact]
    public void The_summary_gives_each_step_its_time_since_the_start_and_since_the_one_before()
    {
        var time = new FakeTimeProvider(Start);
        using var factory = LoggerFactory.Create(_ => { });
        var timeline = new BoxStartTimeline(factory, Start, time);
        time.Advance(TimeSpan.FromSeconds(2));
        timeline.Mark("etcd ready");
        time.Advance(TimeSpan.FromMilliseconds(500));
        timeline.Mark("kube-apiserver ready", "pid 7");

        Assert.Equal(
            "    2.000 s  (+2.000)  etcd ready\n    2.500 s  (+0.500)  kube-apiserver ready  pid 7\n",
            timeline.Summary());
    }

    [Fact]
    public void A_timeline_for_this_process_starts_no_later_than_it_and_names_the_launcher_when_there_is_one()
    {
        using var factory = LoggerFactory.Create(_ => { });
        using var self = System.Diagnostics.Process.GetCurrentProcess();
        var stat = File.ReadAllText("/proc/self/stat");
        var parent = int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);

        var alone = BoxStartTimeline.ForThisProcess(factory, launcherPid: null);
        var launched = BoxStartTimeline.ForThisProcess(factory, launcherPid: parent);

        Assert.Equal(["box process started"], alone.Milestones.Select(m => m.Name));
        Assert.Equal(TimeSpan.Zero, alone.Milestones[0].Elapsed);
        Assert.InRange(alone.StartedAt, self.StartTime.ToUniversalTime().AddSeconds(-1), DateTimeOffset.UtcNow);
        Assert.Equal(["launcher started", "box process started"], launched.Milestones.Select(m => m.Name));
        Assert.True(launched.StartedAt <= alone.StartedAt);
    }

    [Fact]
    public void A_blank_milestone_name_is_refused()
    {
        using var factory = LoggerFactory.Create(_ => { });
        var timeline = new BoxStartTimeline(factory, Start);
        Assert.Throws<ArgumentException>(() => timeline.Mark(" "));
    }

    private sealed class RecordingLoggerProvider : ILoggerProvider
    {
        private readonly System.Collections.Concurrent.ConcurrentQueue<(string Category, string Text)> _messages = new();

        public IReadOnlyList<(string Category, string Text)> Messages => [.. _messages];

        public ILogger CreateLogger(string categoryName) => new Recorder(categoryName, _messages);

        public void Dispose()
        {
        }

        private sealed class Recorder(string category, System.Collections.Concurrent.ConcurrentQueue<(string, string)> messages) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                messages.Enqueue((category, formatter(state, exception)));
        }
    }
}
