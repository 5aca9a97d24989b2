namespace Waypoint.Telemetry.RequestMetrics;

/// <summary>
/// Istio's standard labels from the tags of one raw stat of Envoy's stats logger. What a waypoint on upstream Envoy can know without Istio's
/// peer-metadata exchange or WDS: the client's SPIFFE ID (the HBONE peer's certificate) and so its namespace, the
/// chain's service, the upstream pod's workload (its endpoint's <c>istio.workload</c> metadata), the response and Envoy's
/// response flags. The source workload (name, canonical service and revision, cluster) comes from the baggage ztunnel
/// sent on the CONNECT (<see cref="SourceBaggage"/>), kept only when its namespace is the certificate's: the baggage is
/// the client ztunnel's word, the certificate the mesh CA's. Without such baggage each is <c>unknown</c>, as Istio
/// reports them without peer metadata; <c>source_principal</c> and <c>source_workload_namespace</c> always come from
/// the certificate. Without an upstream pod (no route, no healthy host, a ServiceEntry address) the destination workload is <c>unknown</c> too and its
/// namespace the service's.
/// </summary>
internal static class IstioLabels
{
    public const string Reporter = "waypoint";
    public const string Unknown = "unknown";
    public const string MutualTls = "mutual_tls";

    /// <summary>
    /// The Istio label text of one raw stat of Envoy's stats logger (its tags, <see cref="RequestMetricsEnvoyConfig.Tags"/>):
    /// with <c>request_protocol</c> and <c>response_code</c> for an HTTP stat, <c>request_protocol="tcp"</c> for a TCP one.
    /// </summary>
    public static string Text(IReadOnlyDictionary<string, string> tags, bool http)
    {
        var labels = Of(tags);
        if (!http)
        {
            return labels.LabelText("tcp", null);
        }

        var grpc = Tag(tags, RequestMetricsEnvoyConfig.Tags.ContentType) is { } type && type.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase);
        return labels.LabelText(grpc ? "grpc" : "http", Tag(tags, RequestMetricsEnvoyConfig.Tags.ResponseCode) ?? "0");
    }

    /// <summary>The labels of a raw stat's series, but for its protocol and response code.</summary>
    internal static RequestLabels Of(IReadOnlyDictionary<string, string> tags)
    {
        var principal = Tag(tags, RequestMetricsEnvoyConfig.Tags.SourcePrincipal);
        var sourceNamespace = NamespaceOf(principal);
        var serviceNamespace = Tag(tags, RequestMetricsEnvoyConfig.Tags.DestinationServiceNamespace) ?? Unknown;
        var (workload, workloadNamespace) = Workload(Tag(tags, RequestMetricsEnvoyConfig.Tags.DestinationWorkload));
        return new RequestLabels(
            principal ?? Unknown,
            sourceNamespace ?? Unknown,
            Source(sourceNamespace, Tag(tags, RequestMetricsEnvoyConfig.Tags.SourceBaggage)),
            Tag(tags, RequestMetricsEnvoyConfig.Tags.DestinationService) ?? Unknown,
            Tag(tags, RequestMetricsEnvoyConfig.Tags.DestinationServiceName) ?? Unknown,
            serviceNamespace,
            workload ?? Unknown,
            workloadNamespace ?? serviceNamespace,
            Tag(tags, RequestMetricsEnvoyConfig.Tags.ResponseFlags) ?? "-");
    }

    /// <summary>A tag's value; null when absent, empty, or Envoy's <c>-</c> for a value it does not have.</summary>
    private static string? Tag(IReadOnlyDictionary<string, string> tags, string name) =>
        tags.TryGetValue(name, out var value) && value.Length > 0 && (value != "-" || name == RequestMetricsEnvoyConfig.Tags.ResponseFlags) ? value : null;

    /// <summary>Name and namespace from <c>workload;namespace;canonical name;canonical revision;cluster</c>; nulls when absent or malformed.</summary>
    internal static (string? Name, string? Namespace) Workload(string? value)
    {
        if (value is null)
        {
            return (null, null);
        }

        var fields = value.Split(';');
        return fields.Length >= 2 && fields[0].Length > 0 && fields[1].Length > 0 ? (fields[0], fields[1]) : (null, null);
    }

    /// <summary>
    /// The source workload from the CONNECT's baggage, when its namespace is the peer certificate's
    /// (<paramref name="certificateNamespace"/>); otherwise, or without a certificate namespace, all <c>unknown</c>.
    /// </summary>
    internal static SourceWorkload Source(string? certificateNamespace, string? baggageHeader)
    {
        if (certificateNamespace is null || baggageHeader is null)
        {
            return SourceWorkload.Unknown;
        }

        var baggage = SourceBaggage.Parse(baggageHeader);
        return baggage.Namespace == certificateNamespace ? SourceWorkload.Of(baggage) : SourceWorkload.Unknown;
    }

    /// <summary><c>spiffe://td/ns/&lt;namespace&gt;/sa/&lt;account&gt;</c> → the namespace; anything else → null.</summary>
    internal static string? NamespaceOf(string? principal)
    {
        if (principal is null || !principal.StartsWith("spiffe://", StringComparison.Ordinal))
        {
            return null;
        }

        var segments = principal["spiffe://".Length..].Split('/');
        return segments.Length == 5 && segments[1] == "ns" && segments[3] == "sa" && segments[2].Length > 0 ? segments[2] : null;
    }
}
