using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Waypoint.Box;

/// <summary>One step of a box's start and when it happened, counted from the start.</summary>
public sealed record BoxStartMilestone(string Name, TimeSpan Elapsed, string? Detail);

/// <summary>
/// Where a box's start spends its time. Each milestone (a component started or ready, the CRDs established, the
/// node Ready, the product's pods Ready, ...) is logged once, as it is recorded, at Information under
/// <see cref="LoggerCategory"/> with the time since the start, and kept for <see cref="Summary"/>. The start is the
/// launcher's process start when this process was re-executed by <see cref="Network.BoxLauncher"/> (so the
/// re-execution is on the timeline too), else this process's.
/// </summary>
public sealed partial class BoxStartTimeline
{
    /// <summary>The logger category: a host that logs only warnings can still let these through.</summary>
    public const string LoggerCategory = "Waypoint.Box.StartTimeline";

    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private readonly List<BoxStartMilestone> _milestones = [];
    private readonly HashSet<string> _recorded = new(StringComparer.Ordinal);

    public BoxStartTimeline(ILoggerFactory loggerFactory, DateTimeOffset startedAt, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(loggerFactory);
        _logger = loggerFactory.CreateLogger(LoggerCategory);
        _time = time ?? TimeProvider.System;
        StartedAt = startedAt;
    }

    /// <summary>The zero of the timeline (wall clock).</summary>
    public DateTimeOffset StartedAt { get; }

    /// <summary>The time since <see cref="StartedAt"/>.</summary>
    public TimeSpan Elapsed => _time.GetUtcNow() - StartedAt;

    /// <summary>The milestones recorded so far, earliest first.</summary>
    public IReadOnlyList<BoxStartMilestone> Milestones
    {
        get
        {
            lock (_lock)
            {
                return [.. _milestones.OrderBy(m => m.Elapsed)];
            }
        }
    }

    /// <summary>
    /// A timeline starting when the process that launched this one started (<paramref name="launcherPid"/>), else
    /// when this process started.
    /// </summary>
    public static BoxStartTimeline ForThisProcess(ILoggerFactory loggerFactory, int? launcherPid)
    {
        var own = ProcessStart(Environment.ProcessId) ?? DateTimeOffset.UtcNow;
        var launcher = launcherPid is { } pid ? ProcessStart(pid) : null;
        var timeline = new BoxStartTimeline(loggerFactory, launcher is { } l && l <= own ? l : own);
        if (launcher is not null)
        {
            timeline.MarkAt("launcher started", timeline.StartedAt, "waypoint, before unshare");
        }

        timeline.MarkAt("box process started", own, "re-executed inside the namespaces");
        return timeline;
    }

    /// <summary>Records a milestone now; false (and nothing logged) when one of that name was already recorded.</summary>
    public bool Mark(string name, string? detail = null) => Record(name, Elapsed, detail);

    /// <summary>
    /// Records a milestone at a wall-clock time read elsewhere (e.g. a pod condition's <c>lastTransitionTime</c>, whole
    /// seconds); false when one of that name was already recorded.
    /// </summary>
    public bool MarkAt(string name, DateTimeOffset at, string? detail = null) => Record(name, at - StartedAt, detail);

    /// <summary>Has a milestone of that name been recorded?</summary>
    public bool Has(string name)
    {
        lock (_lock)
        {
            return _recorded.Contains(name);
        }
    }

    /// <summary>One line per milestone, earliest first, with the time since the start and since the previous one.</summary>
    public string Summary()
    {
        var text = new StringBuilder();
        var previous = TimeSpan.Zero;
        foreach (var milestone in Milestones)
        {
            var step = milestone.Elapsed - previous;
            text.Append(CultureInfo.InvariantCulture, $"  {milestone.Elapsed.TotalSeconds,7:0.000} s  (+{step.TotalSeconds:0.000})  {milestone.Name}");
            if (!string.IsNullOrEmpty(milestone.Detail))
            {
                text.Append("  ").Append(milestone.Detail);
            }

            text.Append('\n');
            previous = milestone.Elapsed;
        }

        return text.ToString();
    }

    private bool Record(string name, TimeSpan elapsed, string? detail)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        lock (_lock)
        {
            if (!_recorded.Add(name))
            {
                return false;
            }

            _milestones.Add(new BoxStartMilestone(name, elapsed, detail));
        }

        Log(_logger, (long)elapsed.TotalMilliseconds, name, detail ?? string.Empty);
        return true;
    }

    /// <summary>When a process started (from its <c>/proc</c> entry), or null when it is gone.</summary>
    private static DateTimeOffset? ProcessStart(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return new DateTimeOffset(process.StartTime.ToUniversalTime(), TimeSpan.Zero);
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, EventId = 1, EventName = "StartMilestone", Message = "start +{ElapsedMs} ms: {Milestone} {Detail}")]
    private static partial void Log(ILogger logger, long elapsedMs, string milestone, string detail);
}
