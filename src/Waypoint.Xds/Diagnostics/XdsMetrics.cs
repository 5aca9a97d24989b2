using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Waypoint.Xds.Diagnostics;

/// <summary>
/// The xDS server's instruments (meter <c>Waypoint.Xds</c>), named as istiod's where istiod has one (<c>pilot_xds</c>,
/// <c>pilot_xds_pushes</c>, <c>pilot_total_xds_rejects</c>), so dashboards and alerts written for istiod apply. Tags are
/// bounded: type = lds/rds/cds/eds/sds, waypoint = the node group (<c>name.namespace</c>) of each connected Envoy.
/// </summary>
public sealed class XdsMetrics
{
    public const string MeterName = "Waypoint.Xds";

    private readonly UpDownCounter<long> _streams;
    private readonly Counter<long> _pushes;
    private readonly Counter<long> _nacks;
    private readonly Counter<long> _rejectedRequests;
    private readonly Histogram<double> _ackLatency;

    public XdsMetrics(IMeterFactory meterFactory, XdsServerStatus? status = null)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        var meter = meterFactory.Create(MeterName);
        _streams = meter.CreateUpDownCounter<long>("waypoint.xds.streams", "{stream}", "Connected ADS streams.");
        if (status is not null)
        {
            meter.CreateObservableGauge("pilot_xds", () => ConnectedPerWaypoint(status), description: "Envoys connected over ADS, per waypoint (node group).");
        }

        _pushes = meter.CreateCounter<long>("pilot_xds_pushes", description: "Discovery responses sent, by type (lds, rds, cds, eds, sds).");
        _nacks = meter.CreateCounter<long>("pilot_total_xds_rejects", description: "Discovery responses Envoy rejected (NACK), by type.");
        _rejectedRequests = meter.CreateCounter<long>("waypoint.xds.invalid_requests", "{request}", "Malformed requests that ended their stream.");
        _ackLatency = meter.CreateHistogram<double>("waypoint_xds_push_ack_duration", "s", "Time from sending a response to its ACK or NACK, by type and outcome.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] });
    }

    public void StreamOpened(XdsProtocol protocol) => _streams.Add(1, ProtocolTag(protocol));

    public void StreamClosed(XdsProtocol protocol) => _streams.Add(-1, ProtocolTag(protocol));

    public void Pushed(string typeUrl) => _pushes.Add(1, TypeTag(typeUrl));

    public void Nacked(string typeUrl) => _nacks.Add(1, TypeTag(typeUrl));

    public void RequestRejected(string reason)
    {
        if (_rejectedRequests.Enabled)
        {
            _rejectedRequests.Add(1, new KeyValuePair<string, object?>("error.type", reason));
        }
    }

    public void Answered(string typeUrl, bool accepted, TimeSpan elapsed)
    {
        if (_ackLatency.Enabled)
        {
            var tags = new TagList { { "type", XdsTypeUrls.ShortName(typeUrl) }, { "outcome", accepted ? "ack" : "nack" } };
            _ackLatency.Record(elapsed.TotalSeconds, tags);
        }
    }

    private static IEnumerable<Measurement<int>> ConnectedPerWaypoint(XdsServerStatus status) =>
        status.GetStreams()
            .GroupBy(s => s.NodeGroup, StringComparer.Ordinal)
            .Select(g => new Measurement<int>(g.Count(), new KeyValuePair<string, object?>("waypoint", g.Key)));

    private static KeyValuePair<string, object?> ProtocolTag(XdsProtocol protocol) =>
        new("xds.protocol", protocol == XdsProtocol.Delta ? "delta" : "sotw");

    private static KeyValuePair<string, object?> TypeTag(string typeUrl) => new("type", XdsTypeUrls.ShortName(typeUrl));
}
