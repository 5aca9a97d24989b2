using System.Diagnostics.Metrics;
using Waypoint.Agent.Certificates;

namespace Waypoint.Agent;

/// <summary>The agent's instruments (meter <c>Waypoint.Agent</c>).</summary>
public sealed class AgentMetrics
{
    public const string MeterName = "Waypoint.Agent";

    private readonly Counter<long> _rotations;
    private readonly Counter<long> _caErrors;
    private readonly Counter<long> _sdsPushes;
    private readonly Counter<long> _sdsNacks;
    private WorkloadCertificate? _current;

    public AgentMetrics(IMeterFactory meterFactory)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        var meter = meterFactory.Create(MeterName);
        meter.CreateObservableGauge(
            "waypoint.agent.certificate.expiry",
            () => Volatile.Read(ref _current) is { } c ? [new Measurement<long>(c.NotAfter.ToUnixTimeSeconds())] : Array.Empty<Measurement<long>>(),
            unit: "s",
            description: "NotAfter of the installed workload certificate, as Unix time.");
        _rotations = meter.CreateCounter<long>("waypoint.agent.certificate.rotations", unit: "{certificate}", description: "Validated certificates installed (the first one included).");
        _caErrors = meter.CreateCounter<long>("waypoint.agent.ca.errors", unit: "{error}", description: "Failed attempts to get a certificate, by gRPC code, invalid_response or local_configuration.");
        _sdsPushes = meter.CreateCounter<long>("waypoint.agent.sds.pushes", unit: "{response}", description: "SDS responses sent to Envoy.");
        _sdsNacks = meter.CreateCounter<long>("waypoint.agent.sds.nacks", unit: "{response}", description: "SDS responses Envoy rejected.");
    }

    internal void CertificateInstalled(WorkloadCertificate certificate)
    {
        Volatile.Write(ref _current, certificate);
        _rotations.Add(1);
    }

    internal void CaError(string code) => _caErrors.Add(1, new KeyValuePair<string, object?>("code", code));

    internal void SdsPushed() => _sdsPushes.Add(1);

    internal void SdsNacked() => _sdsNacks.Add(1);
}
