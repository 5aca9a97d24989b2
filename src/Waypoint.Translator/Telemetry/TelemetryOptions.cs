namespace Waypoint.Translator.Telemetry;

/// <summary>
/// What every waypoint Envoy reports unless its WaypointParameters (<c>spec.telemetry</c>, class then Gateway) say
/// otherwise: JSON access logs on stdout and OpenTelemetry tracing. Both off by default, as in Istio.
/// </summary>
public sealed record TelemetryOptions
{
    /// <summary>Istio's default JSON access log, one line per request or TCP connection, on Envoy's stdout.</summary>
    public bool AccessLogs { get; init; }

    /// <summary>OpenTelemetry tracing; null turns it off.</summary>
    public TracingOptions? Tracing { get; init; }
}

/// <summary>OpenTelemetry tracing of the waypoint (Envoy's <c>envoy.tracers.opentelemetry</c>, W3C <c>traceparent</c>).</summary>
public sealed record TracingOptions
{
    /// <summary>Istio's default sampling (<c>meshConfig.defaultConfig.tracing.sampling</c>): one request in a hundred.</summary>
    public const double DefaultSamplingPercent = 1.0;

    /// <summary>The OTLP/gRPC collector, <c>host:port</c> (a DNS name or an IP; IPv6 in brackets), e.g. <c>otel-collector.observability:4317</c>.</summary>
    public required string Collector { get; init; }

    /// <summary>Share of requests that start a trace, 0–100.</summary>
    public double SamplingPercent { get; init; } = DefaultSamplingPercent;

    /// <summary>Whether <paramref name="collector"/> is <c>host:port</c> as <see cref="Collector"/> needs it.</summary>
    public static bool IsValidCollector(string? collector) =>
        collector is not null && Internal.WaypointTelemetry.TryParseHostPort(collector, out _, out _);
}
