using System.Diagnostics;
using System.Diagnostics.Metrics;
using Waypoint.Controller.Client;

namespace Waypoint.Controller;

/// <summary>
/// The controller's instruments (meter <c>Waypoint.Controller</c>), on its 15014 <c>/metrics</c> with the xDS server's
/// (istiod's <c>pilot_*</c> names). Tags are bounded: work item kinds, outcomes, resource kinds.
/// </summary>
public sealed class ControllerMetrics
{
    public const string MeterName = "Waypoint.Controller";

    private static readonly double[] s_secondsBuckets = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

    private readonly Counter<long> _reconciles;
    private readonly Histogram<double> _reconcileDuration;
    private readonly Histogram<double> _translationDuration;
    private readonly Counter<long> _translationErrors;
    private readonly Counter<long> _relists;
    private readonly Histogram<double> _queueDuration;
    private Func<int>? _queueDepth;
    private Func<bool>? _leader;

    public ControllerMetrics(IMeterFactory meterFactory)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        var meter = meterFactory.Create(MeterName);
        _reconciles = meter.CreateCounter<long>("waypoint_controller_reconciles", description: "Work items reconciled, by kind and result (success, error).");
        _reconcileDuration = meter.CreateHistogram<double>("waypoint_controller_reconcile_duration", "s", "Time to reconcile one work item.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = s_secondsBuckets });
        _translationDuration = meter.CreateHistogram<double>("waypoint_controller_translation_duration", "s", "Time to translate the cluster snapshot for every waypoint.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = s_secondsBuckets });
        _translationErrors = meter.CreateCounter<long>("waypoint_controller_translation_errors", description: "Waypoints whose translation threw (they keep their last good configuration).");
        _relists = meter.CreateCounter<long>("waypoint_controller_informer_lists", description: "Full LISTs by the informers, by resource kind: the first one, then every relist (410 Gone, failed watch).");
        _queueDuration = meter.CreateHistogram<double>("waypoint_controller_queue_duration", "s", "Time a work item waited in the queue before a worker took it.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = s_secondsBuckets });
        meter.CreateObservableGauge("waypoint_controller_queue_depth", () => Volatile.Read(ref _queueDepth)?.Invoke() ?? 0, description: "Work items waiting in the queue.");
        meter.CreateObservableGauge("waypoint_controller_leader", () => Volatile.Read(ref _leader) is { } leader ? (leader() ? 1 : 0) : 0, description: "1 while this replica holds the Lease (writes status and owned objects).");
    }

    internal void Observe(Func<int> queueDepth, Func<bool> leader)
    {
        Volatile.Write(ref _queueDepth, queueDepth);
        Volatile.Write(ref _leader, leader);
    }

    internal void Reconciled(string kind, bool success, TimeSpan elapsed)
    {
        var tags = new TagList { { "kind", kind }, { "result", success ? "success" : "error" } };
        _reconciles.Add(1, tags);
        _reconcileDuration.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("kind", kind));
    }

    internal void Translated(TimeSpan elapsed, int errors)
    {
        _translationDuration.Record(elapsed.TotalSeconds);
        if (errors > 0)
        {
            _translationErrors.Add(errors);
        }
    }

    internal void Listed(ResourceKind kind) => _relists.Add(1, new KeyValuePair<string, object?>("kind", kind.Kind));

    /// <summary>A work item waited <paramref name="elapsed"/> in the queue before a worker took it.</summary>
    internal void Waited(TimeSpan elapsed) => _queueDuration.Record(elapsed.TotalSeconds);
}
