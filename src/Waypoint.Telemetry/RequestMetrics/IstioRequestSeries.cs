using System.Globalization;
using System.Text;

namespace Waypoint.Telemetry.RequestMetrics;

/// <summary>
/// Istio's standard request metrics, rendered at scrape time from the stats Envoy's stats access logger keeps
/// (<see cref="RequestMetricsEnvoyConfig"/>): Envoy's <c>envoy_waypoint_istio_*</c> series, with their raw tags, become
/// <c>istio_requests_total</c>, <c>istio_request_duration_milliseconds</c>, <c>istio_request_bytes</c>,
/// <c>istio_response_bytes</c>, <c>istio_tcp_sent_bytes_total</c>, <c>istio_tcp_received_bytes_total</c>,
/// <c>istio_tcp_connections_opened_total</c> and <c>istio_tcp_connections_closed_total</c> with Istio's labels
/// (<see cref="IstioLabels"/>). Raw series that give the same Istio labels (e.g. two content types of one protocol, or
/// baggage that is not trusted) are summed into one.
/// </summary>
/// <remarks>
/// The per-request work is Envoy's, in place; this runs once per scrape and costs in proportion to the series, not
/// the requests.
/// </remarks>
public static class IstioRequestSeries
{
    private const string EnvoyPrefix = "envoy_" + RequestMetricsEnvoyConfig.StatPrefix + "_";

    private static readonly Family[] s_families =
    [
        new(RequestMetricsEnvoyConfig.Stats.Requests, "counter", Kind.Http, "Requests the waypoint handled (Istio standard metric)."),
        new(RequestMetricsEnvoyConfig.Stats.Duration, "histogram", Kind.Http, "Request duration, first byte received to last byte sent downstream, in milliseconds."),
        new(RequestMetricsEnvoyConfig.Stats.RequestBytes, "histogram", Kind.Http, "Request body size in bytes."),
        new(RequestMetricsEnvoyConfig.Stats.ResponseBytes, "histogram", Kind.Http, "Response body size in bytes."),
        new(RequestMetricsEnvoyConfig.Stats.TcpSentBytes, "counter", Kind.Tcp, "Bytes sent to the client on TCP connections."),
        new(RequestMetricsEnvoyConfig.Stats.TcpReceivedBytes, "counter", Kind.Tcp, "Bytes received from the client on TCP connections."),
        new(RequestMetricsEnvoyConfig.Stats.TcpOpened, "counter", Kind.Tcp, "TCP connections opened."),
        new(RequestMetricsEnvoyConfig.Stats.TcpClosed, "counter", Kind.Tcp, "TCP connections closed."),
    ];

    private enum Kind
    {
        Http,
        Tcp,
    }

    /// <summary>
    /// Splits Envoy's Prometheus text (format 0.0.4): every line but the raw request stats goes to <paramref name="envoy"/>
    /// unchanged, the raw request stats go to <paramref name="istio"/> as Istio's series, families in Istio's order.
    /// </summary>
    public static void Rewrite(string envoyText, StringBuilder envoy, StringBuilder istio)
    {
        ArgumentNullException.ThrowIfNull(envoyText);
        ArgumentNullException.ThrowIfNull(envoy);
        ArgumentNullException.ThrowIfNull(istio);
        var series = new Dictionary<Family, FamilySeries>();
        var labelsOf = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var range in envoyText.AsSpan().Split('\n'))
        {
            var line = envoyText.AsSpan()[range];
            if (line.IsEmpty)
            {
                continue;
            }

            if (IsRawComment(line))
            {
                continue;
            }

            if (!line.StartsWith(RequestMetricsEnvoyConfig.EnvoySeriesPrefix, StringComparison.Ordinal)
                || !TryParseSample(line, out var name, out var rawLabels, out var le, out var value))
            {
                envoy.Append(line).Append('\n');
                continue;
            }

            if (Match(name.AsSpan(EnvoyPrefix.Length)) is not ({ } family, var part))
            {
                envoy.Append(line).Append('\n'); // a stat of ours this version does not know: left as Envoy's
                continue;
            }

            if (!labelsOf.TryGetValue(rawLabels, out var labels))
            {
                labels = IstioLabels.Text(RequestMetricsEnvoyConfig.Expand(ParseLabels(rawLabels)), family.Kind == Kind.Http);
                labelsOf.Add(rawLabels, labels);
            }

            if (!series.TryGetValue(family, out var ofFamily))
            {
                ofFamily = new FamilySeries();
                series.Add(family, ofFamily);
            }

            ofFamily.Add(labels, part, le, value);
        }

        foreach (var family in s_families)
        {
            if (series.TryGetValue(family, out var ofFamily))
            {
                ofFamily.WriteTo(istio, family);
            }
        }
    }

    /// <summary><c># TYPE</c>/<c># HELP</c> of a raw request stat: Istio's families get their own.</summary>
    private static bool IsRawComment(ReadOnlySpan<char> line) =>
        (line.StartsWith("# TYPE ", StringComparison.Ordinal) || line.StartsWith("# HELP ", StringComparison.Ordinal))
        && line[7..].StartsWith(RequestMetricsEnvoyConfig.EnvoySeriesPrefix, StringComparison.Ordinal);

    private static (Family? Family, Part Part) Match(ReadOnlySpan<char> name)
    {
        foreach (var family in s_families)
        {
            if (!name.StartsWith(family.Name, StringComparison.Ordinal))
            {
                continue;
            }

            var suffix = name[family.Name.Length..];
            var part = family.Type == "counter"
                ? suffix.IsEmpty ? Part.Value : Part.None
                : suffix switch
                {
                    "_bucket" => Part.Bucket,
                    "_sum" => Part.Sum,
                    "_count" => Part.Count,
                    _ => Part.None,
                };
            if (part != Part.None)
            {
                return (family, part);
            }
        }

        return (null, Part.None);
    }

    /// <summary>
    /// <c>name{labels} value</c>: the labels' text without <c>le</c> (the key of a series) and <c>le</c> apart. False for
    /// anything malformed, which is then left as Envoy wrote it.
    /// </summary>
    private static bool TryParseSample(ReadOnlySpan<char> line, out string name, out string labels, out string? le, out double value)
    {
        name = labels = string.Empty;
        le = null;
        value = 0;
        var open = line.IndexOf('{');
        var space = line.LastIndexOf(' ');
        if (space <= 0 || !double.TryParse(line[(space + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out value))
        {
            return false;
        }

        if (open < 0)
        {
            name = line[..space].ToString();
            return true;
        }

        var close = line[..space].LastIndexOf('}');
        if (close < open)
        {
            return false;
        }

        name = line[..open].ToString();
        var body = line[(open + 1)..close];
        // Envoy writes le last: cut it off, so the buckets of one series share its key.
        var leAt = body.LastIndexOf("le=\"", StringComparison.Ordinal);
        if (leAt >= 0 && (leAt == 0 || body[leAt - 1] == ','))
        {
            le = body[(leAt + 4)..].TrimEnd('"').ToString();
            body = body[..Math.Max(leAt - 1, 0)];
        }

        labels = body.ToString();
        return true;
    }

    /// <summary>Prometheus label text (<c>a="x",b="y"</c>, values escaped with backslashes) → name → value.</summary>
    internal static Dictionary<string, string> ParseLabels(string text)
    {
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        var i = 0;
        var value = new StringBuilder();
        while (i < text.Length)
        {
            var equals = text.IndexOf('=', i);
            if (equals < 0 || equals + 1 >= text.Length || text[equals + 1] != '"')
            {
                break;
            }

            var name = text[i..equals];
            value.Clear();
            var j = equals + 2;
            for (; j < text.Length && text[j] != '"'; j++)
            {
                if (text[j] == '\\' && j + 1 < text.Length)
                {
                    j++;
                    value.Append(text[j] == 'n' ? '\n' : text[j]);
                }
                else
                {
                    value.Append(text[j]);
                }
            }

            labels[name] = value.ToString();
            i = j + 2; // past the closing quote and the comma
        }

        return labels;
    }

    private enum Part
    {
        None,
        Value,
        Bucket,
        Sum,
        Count,
    }

    private sealed record Family(string Name, string Type, Kind Kind, string Help);

    /// <summary>The Istio series of one family, summed over the raw series that map to them, in first-seen order.</summary>
    private sealed class FamilySeries
    {
        private readonly Dictionary<string, Aggregate> _byLabels = new(StringComparer.Ordinal);
        private readonly List<(string Labels, Aggregate Aggregate)> _ordered = [];

        public void Add(string labels, Part part, string? le, double value)
        {
            if (!_byLabels.TryGetValue(labels, out var aggregate))
            {
                aggregate = new Aggregate();
                _byLabels.Add(labels, aggregate);
                _ordered.Add((labels, aggregate));
            }

            switch (part)
            {
                case Part.Value:
                    aggregate.Value += value;
                    break;
                case Part.Sum:
                    aggregate.Sum += value;
                    break;
                case Part.Count:
                    aggregate.Count += value;
                    break;
                case Part.Bucket when le is not null:
                    aggregate.AddBucket(le, value);
                    break;
            }
        }

        public void WriteTo(StringBuilder text, Family family)
        {
            text.Append("# HELP ").Append(family.Name).Append(' ').Append(family.Help).Append('\n')
                .Append("# TYPE ").Append(family.Name).Append(' ').Append(family.Type).Append('\n');
            foreach (var (labels, aggregate) in _ordered)
            {
                if (family.Type == "counter")
                {
                    Sample(text, family.Name, labels, null, aggregate.Value);
                    continue;
                }

                foreach (var (le, count) in aggregate.Buckets)
                {
                    Sample(text, family.Name + "_bucket", labels, le, count);
                }

                Sample(text, family.Name + "_sum", labels, null, aggregate.Sum);
                Sample(text, family.Name + "_count", labels, null, aggregate.Count);
            }
        }

        private static void Sample(StringBuilder text, string name, string labels, string? le, double value)
        {
            text.Append(name).Append('{').Append(labels);
            if (le is not null)
            {
                text.Append(",le=\"").Append(le).Append('"');
            }

            text.Append("} ").Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');
        }
    }

    private sealed class Aggregate
    {
        private readonly List<(string Le, double Count)> _buckets = [];

        public double Value { get; set; }

        public double Sum { get; set; }

        public double Count { get; set; }

        /// <summary>Bucket counts by upper bound, in Envoy's order (ascending, <c>+Inf</c> last).</summary>
        public IReadOnlyList<(string Le, double Count)> Buckets => _buckets;

        public void AddBucket(string le, double count)
        {
            for (var i = 0; i < _buckets.Count; i++)
            {
                if (_buckets[i].Le == le)
                {
                    _buckets[i] = (le, _buckets[i].Count + count);
                    return;
                }
            }

            _buckets.Add((le, count));
        }
    }
}
