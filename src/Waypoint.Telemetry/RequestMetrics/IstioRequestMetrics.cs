using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace Waypoint.Telemetry.RequestMetrics;

/// <summary>
/// Istio's standard request metrics, aggregated from Envoy's access log entries and rendered in Prometheus' text format
/// with Istio's names, labels and default buckets: <c>istio_requests_total</c>,
/// <c>istio_request_duration_milliseconds</c>, <c>istio_request_bytes</c>, <c>istio_response_bytes</c>,
/// <c>istio_tcp_sent_bytes_total</c>, <c>istio_tcp_received_bytes_total</c>, <c>istio_tcp_connections_opened_total</c>
/// and <c>istio_tcp_connections_closed_total</c>.
/// </summary>
/// <remarks>
/// Not OpenTelemetry instruments: each entry would cost four lookups of a 13-label set (sorted and hashed every time,
/// with arrays allocated beyond 8 tags), which made the agent's share of a request most of the metrics' cost. Here an
/// entry costs one dictionary lookup of its label values; a series' label text is built once. The entry counter
/// (<c>waypoint_request_metrics_entries_total</c>, meter <see cref="MeterName"/>) and the series dropped over
/// <see cref="MaxSeries"/> stay OpenTelemetry counters, added once per batch.
/// </remarks>
public sealed class IstioRequestMetrics
{
    public const string MeterName = "Waypoint.RequestMetrics";

    /// <summary>Label sets kept per kind (HTTP, TCP); entries of further ones are counted as dropped, not stored.</summary>
    public const int MaxSeries = 10_000;

    // Istio's default buckets (its stats filter): milliseconds, and bytes by powers of ten.
    private static readonly double[] s_durationBuckets = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];
    private static readonly double[] s_byteBuckets = [1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000];

    private readonly Lock _lock = new();
    private readonly Dictionary<HttpKey, HttpSeries> _http = new();
    private readonly Dictionary<RequestLabels, TcpSeries> _tcp = new();
    private readonly Counter<long> _entries;
    private readonly Counter<long> _dropped;

    public IstioRequestMetrics(IMeterFactory meterFactory)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        var meter = meterFactory.Create(MeterName);
        _entries = meter.CreateCounter<long>("waypoint_request_metrics_entries_total", description: "Access log entries received from Envoy, by kind (http, tcp).");
        _dropped = meter.CreateCounter<long>("waypoint_request_metrics_dropped_entries_total", description: $"Entries not recorded because their kind already has {MaxSeries} label sets.");
    }

    /// <summary>Counts one batch of entries from Envoy.</summary>
    internal void Received(string kind, int entries) => _entries.Add(entries, new KeyValuePair<string, object?>("kind", kind));

    internal void Request(in RequestLabels labels, bool grpc, uint responseCode, double durationMilliseconds, long requestBytes, long responseBytes)
    {
        var key = new HttpKey(labels, grpc, responseCode);
        lock (_lock)
        {
            if (!_http.TryGetValue(key, out var series))
            {
                if (_http.Count >= MaxSeries)
                {
                    _dropped.Add(1, new KeyValuePair<string, object?>("kind", "http"));
                    return;
                }

                series = new HttpSeries(key.LabelText());
                _http.Add(key, series);
            }

            series.Requests++;
            series.Duration.Record(durationMilliseconds);
            series.RequestBytes.Record(requestBytes);
            series.ResponseBytes.Record(responseBytes);
        }
    }

    internal void TcpOpened(in RequestLabels labels)
    {
        lock (_lock)
        {
            if (Tcp(labels) is { } series)
            {
                series.Opened++;
            }
        }
    }

    internal void TcpClosed(in RequestLabels labels, long sentBytes, long receivedBytes, bool countOpened)
    {
        lock (_lock)
        {
            if (Tcp(labels) is { } series)
            {
                if (countOpened)
                {
                    series.Opened++;
                }

                series.Closed++;
                series.Sent += sentBytes;
                series.Received += receivedBytes;
            }
        }
    }

    /// <summary>Every series in Prometheus' text format (0.0.4), families in Istio's order.</summary>
    public void WriteTo(StringBuilder text)
    {
        ArgumentNullException.ThrowIfNull(text);
        lock (_lock)
        {
            if (_http.Count > 0)
            {
                Family(text, "istio_requests_total", "counter", "Requests the waypoint handled (Istio standard metric).");
                foreach (var series in _http.Values)
                {
                    Sample(text, "istio_requests_total", series.Labels, null, series.Requests);
                }

                WriteHistograms(text, "istio_request_duration_milliseconds", "Request duration, first byte received to last byte sent downstream, in milliseconds.", _http.Values, s => s.Duration);
                WriteHistograms(text, "istio_request_bytes", "Request size, headers and body, in bytes.", _http.Values, s => s.RequestBytes);
                WriteHistograms(text, "istio_response_bytes", "Response size, headers and body, in bytes.", _http.Values, s => s.ResponseBytes);
            }

            if (_tcp.Count > 0)
            {
                WriteCounters(text, "istio_tcp_sent_bytes_total", "Bytes sent to the client on TCP connections.", _tcp.Values, s => s.Sent);
                WriteCounters(text, "istio_tcp_received_bytes_total", "Bytes received from the client on TCP connections.", _tcp.Values, s => s.Received);
                WriteCounters(text, "istio_tcp_connections_opened_total", "TCP connections opened.", _tcp.Values, s => s.Opened);
                WriteCounters(text, "istio_tcp_connections_closed_total", "TCP connections closed.", _tcp.Values, s => s.Closed);
            }
        }
    }

    private static void WriteHistograms(StringBuilder text, string name, string help, IEnumerable<HttpSeries> all, Func<HttpSeries, Buckets> of)
    {
        Family(text, name, "histogram", help);
        foreach (var series in all)
        {
            of(series).WriteTo(text, name, series.Labels);
        }
    }

    private static void WriteCounters(StringBuilder text, string name, string help, IEnumerable<TcpSeries> all, Func<TcpSeries, long> of)
    {
        Family(text, name, "counter", help);
        foreach (var series in all)
        {
            Sample(text, name, series.Labels, null, of(series));
        }
    }

    private TcpSeries? Tcp(in RequestLabels labels)
    {
        if (!_tcp.TryGetValue(labels, out var series))
        {
            if (_tcp.Count >= MaxSeries)
            {
                _dropped.Add(1, new KeyValuePair<string, object?>("kind", "tcp"));
                return null;
            }

            series = new TcpSeries(labels.LabelText("tcp", null));
            _tcp.Add(labels, series);
        }

        return series;
    }

    private static void Family(StringBuilder text, string name, string type, string help) =>
        text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n')
            .Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');

    private static void Sample(StringBuilder text, string name, string labels, string? le, double value)
    {
        text.Append(name).Append('{').Append(labels);
        if (le is not null)
        {
            text.Append(",le=\"").Append(le).Append('"');
        }

        text.Append("} ").Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');
    }

    private readonly record struct HttpKey(RequestLabels Labels, bool Grpc, uint ResponseCode)
    {
        public string LabelText() => Labels.LabelText(Grpc ? "grpc" : "http", ResponseCode.ToString(CultureInfo.InvariantCulture));
    }

    private sealed class HttpSeries(string labels)
    {
        public string Labels { get; } = labels;

        public long Requests { get; set; }

        public Buckets Duration { get; } = new(s_durationBuckets);

        public Buckets RequestBytes { get; } = new(s_byteBuckets);

        public Buckets ResponseBytes { get; } = new(s_byteBuckets);
    }

    private sealed class TcpSeries(string labels)
    {
        public string Labels { get; } = labels;

        public long Opened { get; set; }

        public long Closed { get; set; }

        public long Sent { get; set; }

        public long Received { get; set; }
    }

    /// <summary>A Prometheus histogram: counts per bucket (upper bounds inclusive), sum and count.</summary>
    private sealed class Buckets(double[] bounds)
    {
        private readonly long[] _counts = new long[bounds.Length + 1];
        private double _sum;
        private long _count;

        public void Record(double value)
        {
            var i = 0;
            while (i < bounds.Length && value > bounds[i])
            {
                i++;
            }

            _counts[i]++;
            _sum += value;
            _count++;
        }

        public void WriteTo(StringBuilder text, string name, string labels)
        {
            var cumulative = 0L;
            for (var i = 0; i < bounds.Length; i++)
            {
                cumulative += _counts[i];
                Sample(text, name + "_bucket", labels, bounds[i].ToString(CultureInfo.InvariantCulture), cumulative);
            }

            Sample(text, name + "_bucket", labels, "+Inf", _count);
            Sample(text, name + "_sum", labels, null, _sum);
            Sample(text, name + "_count", labels, null, _count);
        }
    }
}
