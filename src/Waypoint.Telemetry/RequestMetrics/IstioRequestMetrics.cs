using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Waypoint.Telemetry.RequestMetrics;

/// <summary>
/// Istio's standard request metrics (meter <c>Waypoint.RequestMetrics</c>), recorded from Envoy's access log entries.
/// The instruments carry Istio's Prometheus names as they are, so the exporter renders exactly
/// <c>istio_requests_total</c>, <c>istio_request_duration_milliseconds_*</c>, <c>istio_request_bytes_*</c>,
/// <c>istio_response_bytes_*</c>, <c>istio_tcp_sent_bytes_total</c>, <c>istio_tcp_received_bytes_total</c>,
/// <c>istio_tcp_connections_opened_total</c> and <c>istio_tcp_connections_closed_total</c>; the buckets are Istio's.
/// </summary>
public sealed class IstioRequestMetrics
{
    public const string MeterName = "Waypoint.RequestMetrics";

    // Istio's default buckets (its stats filter): milliseconds, and bytes by powers of ten.
    private static readonly double[] s_durationBuckets = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];
    private static readonly long[] s_byteBuckets = [1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000];

    private readonly Counter<long> _requests;
    private readonly Histogram<double> _duration;
    private readonly Histogram<long> _requestBytes;
    private readonly Histogram<long> _responseBytes;
    private readonly Counter<long> _tcpSent;
    private readonly Counter<long> _tcpReceived;
    private readonly Counter<long> _tcpOpened;
    private readonly Counter<long> _tcpClosed;
    private readonly Counter<long> _entries;

    public IstioRequestMetrics(IMeterFactory meterFactory)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        var meter = meterFactory.Create(MeterName);
        _requests = meter.CreateCounter<long>("istio_requests_total", description: "Requests the waypoint handled (Istio standard metric).");
        _duration = meter.CreateHistogram<double>("istio_request_duration_milliseconds", "ms", "Request duration, first byte received to last byte sent downstream.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = s_durationBuckets });
        _requestBytes = meter.CreateHistogram<long>("istio_request_bytes", "By", "Request size, headers and body.",
            advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = s_byteBuckets });
        _responseBytes = meter.CreateHistogram<long>("istio_response_bytes", "By", "Response size, headers and body.",
            advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = s_byteBuckets });
        _tcpSent = meter.CreateCounter<long>("istio_tcp_sent_bytes_total", "By", "Bytes sent to the client on TCP connections.");
        _tcpReceived = meter.CreateCounter<long>("istio_tcp_received_bytes_total", "By", "Bytes received from the client on TCP connections.");
        _tcpOpened = meter.CreateCounter<long>("istio_tcp_connections_opened_total", description: "TCP connections opened.");
        _tcpClosed = meter.CreateCounter<long>("istio_tcp_connections_closed_total", description: "TCP connections closed.");
        _entries = meter.CreateCounter<long>("waypoint_request_metrics_entries_total", description: "Access log entries received from Envoy, by kind (http, tcp).");
    }

    internal void Request(in TagList labels, double durationMilliseconds, long requestBytes, long responseBytes)
    {
        _entries.Add(1, new KeyValuePair<string, object?>("kind", "http"));
        _requests.Add(1, labels);
        _duration.Record(durationMilliseconds, labels);
        _requestBytes.Record(requestBytes, labels);
        _responseBytes.Record(responseBytes, labels);
    }

    internal void TcpOpened(in TagList labels)
    {
        _entries.Add(1, new KeyValuePair<string, object?>("kind", "tcp"));
        _tcpOpened.Add(1, labels);
    }

    internal void TcpClosed(in TagList labels, long sentBytes, long receivedBytes, bool countOpened)
    {
        _entries.Add(1, new KeyValuePair<string, object?>("kind", "tcp"));
        if (countOpened)
        {
            _tcpOpened.Add(1, labels);
        }

        _tcpClosed.Add(1, labels);
        _tcpSent.Add(sentBytes, labels);
        _tcpReceived.Add(receivedBytes, labels);
    }
}
