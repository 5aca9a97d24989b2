using System.ComponentModel.DataAnnotations;
using Waypoint.Translator.Telemetry;

namespace Waypoint.Controller;

/// <summary>
/// Access logs and tracing of every waypoint (section <c>Waypoint:Controller:Telemetry</c>; Helm values
/// <c>accessLogs.enabled</c> and <c>tracing.*</c>). A class's or Gateway's WaypointParameters <c>spec.telemetry</c>
/// overrides them.
/// </summary>
public sealed class WaypointTelemetrySettings
{
    /// <summary>Istio's default JSON access log on each waypoint Envoy's stdout.</summary>
    public bool AccessLogs { get; set; }

    public WaypointTracingSettings Tracing { get; set; } = new();

    /// <summary>The translator's form of these settings.</summary>
    public TelemetryOptions ToTranslatorOptions() => new()
    {
        AccessLogs = AccessLogs,
        Tracing = Tracing.Enabled ? new TracingOptions { Collector = Tracing.Collector ?? string.Empty, SamplingPercent = Tracing.SamplingPercent } : null,
    };
}

/// <summary>OpenTelemetry tracing from waypoint Envoys (OTLP/gRPC).</summary>
public sealed class WaypointTracingSettings
{
    public bool Enabled { get; set; }

    /// <summary>The collector, <c>host:port</c> (e.g. <c>jaeger-collector.observability:4317</c>); required when enabled.</summary>
    public string? Collector { get; set; }

    /// <summary>Share of requests that start a trace (Istio's default: 1).</summary>
    [Range(0.0, 100.0)]
    public double SamplingPercent { get; set; } = TracingOptions.DefaultSamplingPercent;
}
