using System.Text;

namespace Waypoint.Telemetry.RequestMetrics;

/// <summary>
/// The source workload's labels from its (trusted) baggage: <c>unknown</c> each, as Istio reports them, when absent.
/// <c>source_app</c>/<c>source_version</c> repeat the canonical service and revision, as ztunnel reports them from baggage.
/// </summary>
internal readonly record struct SourceWorkload(string Name, string CanonicalService, string CanonicalRevision, string Cluster)
{
    public static SourceWorkload Unknown { get; } = new(IstioLabels.Unknown, IstioLabels.Unknown, IstioLabels.Unknown, IstioLabels.Unknown);

    public static SourceWorkload Of(in SourceBaggage baggage) => new(
        baggage.Workload ?? IstioLabels.Unknown,
        baggage.CanonicalService ?? IstioLabels.Unknown,
        baggage.CanonicalRevision ?? IstioLabels.Unknown,
        baggage.Cluster ?? IstioLabels.Unknown);
}

/// <summary>The label values one access log entry gives, common to HTTP and TCP series (the protocol and code come apart).</summary>
internal readonly record struct RequestLabels(
    string SourcePrincipal,
    string SourceWorkloadNamespace,
    SourceWorkload SourceWorkload,
    string DestinationService,
    string DestinationServiceName,
    string DestinationServiceNamespace,
    string DestinationWorkload,
    string DestinationWorkloadNamespace,
    string ResponseFlags)
{
    /// <summary>The series' labels in Prometheus' text format, Istio's names (<paramref name="responseCode"/> only on HTTP series).</summary>
    public string LabelText(string requestProtocol, string? responseCode)
    {
        var text = new StringBuilder(512);
        Label(text, "reporter", IstioLabels.Reporter, first: true);
        Label(text, "source_principal", SourcePrincipal);
        Label(text, "source_workload", SourceWorkload.Name);
        Label(text, "source_workload_namespace", SourceWorkloadNamespace);
        Label(text, "source_canonical_service", SourceWorkload.CanonicalService);
        Label(text, "source_canonical_revision", SourceWorkload.CanonicalRevision);
        Label(text, "source_app", SourceWorkload.CanonicalService);
        Label(text, "source_version", SourceWorkload.CanonicalRevision);
        Label(text, "source_cluster", SourceWorkload.Cluster);
        Label(text, "destination_service", DestinationService);
        Label(text, "destination_service_name", DestinationServiceName);
        Label(text, "destination_service_namespace", DestinationServiceNamespace);
        Label(text, "destination_workload", DestinationWorkload);
        Label(text, "destination_workload_namespace", DestinationWorkloadNamespace);
        Label(text, "connection_security_policy", IstioLabels.MutualTls);
        Label(text, "response_flags", ResponseFlags);
        Label(text, "request_protocol", requestProtocol);
        if (responseCode is not null)
        {
            Label(text, "response_code", responseCode);
        }

        return text.ToString();
    }

    /// <summary>name="value", the value escaped as the text format requires (backslash, double quote, line feed).</summary>
    private static void Label(StringBuilder text, string name, string value, bool first = false)
    {
        if (!first)
        {
            text.Append(',');
        }

        text.Append(name).Append("=\"");
        foreach (var c in value)
        {
            _ = c switch
            {
                '\\' => text.Append(@"\\"),
                '"' => text.Append("\\\""),
                '\n' => text.Append(@"\n"),
                _ => text.Append(c),
            };
        }

        text.Append('"');
    }
}
