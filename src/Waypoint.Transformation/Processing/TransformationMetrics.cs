using System.Diagnostics.Metrics;

namespace Waypoint.Transformation.Processing;

/// <summary>Instruments of the transformation service (meter <c>Waypoint.Transformation</c>).</summary>
public sealed class TransformationMetrics
{
    public const string MeterName = "Waypoint.Transformation";

    private readonly Counter<long> _streams;
    private readonly Counter<long> _failures;
    private readonly Histogram<double> _duration;

    public TransformationMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _streams = meter.CreateCounter<long>("waypoint.transformation.streams", "{stream}", "ext_proc streams (one per transformed HTTP exchange).");
        _failures = meter.CreateCounter<long>("waypoint.transformation.failures", "{failure}", "Exchanges answered with an error because a transformation failed.");
        _duration = meter.CreateHistogram<double>("waypoint.transformation.render.duration", "s", "Time spent rendering one direction's templates.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05] });
    }

    internal void StreamStarted() => _streams.Add(1);

    internal void Failed(string direction, string errorType)
    {
        if (_failures.Enabled)
        {
            _failures.Add(1, new KeyValuePair<string, object?>("direction", direction), new KeyValuePair<string, object?>("error.type", errorType));
        }
    }

    internal void Rendered(string direction, TimeSpan elapsed)
    {
        if (_duration.Enabled)
        {
            _duration.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("direction", direction));
        }
    }
}
