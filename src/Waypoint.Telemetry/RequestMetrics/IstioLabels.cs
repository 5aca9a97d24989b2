using System.Collections.Concurrent;
using System.Text;
using Envoy.Data.Accesslog.V3;
using Google.Protobuf.WellKnownTypes;

namespace Waypoint.Telemetry.RequestMetrics;

/// <summary>
/// Istio's standard labels from one access log entry. What a waypoint on upstream Envoy can know without Istio's
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
    /// Distinct baggage headers parsed once each: every request on a tunnel carries its source pod's header, and a waypoint
    /// sees few sources, so the agent's per-entry work is one lookup; past the bound (a hostile variety) they are parsed each time.
    /// </summary>
    private const int MaxCachedBaggage = 1024;

    private static readonly ConcurrentDictionary<string, SourceBaggage> s_baggage = new(StringComparer.Ordinal);

    /// <summary>The labels of an entry's series, but for its protocol and response code.</summary>
    public static RequestLabels Of(AccessLogCommon? common)
    {
        var principal = StringState(common, RequestMetricsEnvoyConfig.PeerPrincipalFilterState);
        var sourceNamespace = NamespaceOf(principal);
        var tags = common?.CustomTags;
        var serviceNamespace = Tag(tags, RequestMetricsEnvoyConfig.DestinationServiceNamespaceTag);
        var (workload, workloadNamespace) = Workload(tags);
        return new RequestLabels(
            principal ?? Unknown,
            sourceNamespace ?? Unknown,
            Source(sourceNamespace, StringState(common, RequestMetricsEnvoyConfig.BaggageFilterState)),
            Tag(tags, RequestMetricsEnvoyConfig.DestinationServiceTag),
            Tag(tags, RequestMetricsEnvoyConfig.DestinationServiceNameTag),
            serviceNamespace,
            workload ?? Unknown,
            workloadNamespace ?? serviceNamespace,
            Flags(common?.ResponseFlags));
    }

    private static string Tag(Google.Protobuf.Collections.MapField<string, string>? tags, string name) =>
        tags is not null && tags.TryGetValue(name, out var value) && value.Length > 0 ? value : Unknown;

    /// <summary>Name and namespace from <c>workload;namespace;canonical name;canonical revision;cluster</c>; nulls when absent or malformed.</summary>
    internal static (string? Name, string? Namespace) Workload(Google.Protobuf.Collections.MapField<string, string>? tags)
    {
        if (tags is null || !tags.TryGetValue(RequestMetricsEnvoyConfig.DestinationWorkloadTag, out var value))
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

        if (!s_baggage.TryGetValue(baggageHeader, out var baggage))
        {
            baggage = SourceBaggage.Parse(baggageHeader);
            if (s_baggage.Count < MaxCachedBaggage)
            {
                s_baggage.TryAdd(baggageHeader, baggage);
            }
        }

        return baggage.Namespace == certificateNamespace ? SourceWorkload.Of(baggage) : SourceWorkload.Unknown;
    }

    /// <summary>A string filter state object (<c>io.istio.peer_principal</c>, <c>io.istio.baggage</c>), logged as a StringValue; null when absent or empty.</summary>
    private static string? StringState(AccessLogCommon? common, string key)
    {
        if (common?.FilterStateObjects is { } objects
            && objects.TryGetValue(key, out var packed)
            && packed.TryUnpack<StringValue>(out var value)
            && value.Value.Length > 0)
        {
            return value.Value;
        }

        return null;
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

    public static bool IsGrpc(HTTPRequestProperties? request) =>
        request?.RequestHeaders is { } headers
        && headers.TryGetValue("content-type", out var type)
        && type.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase);

    /// <summary>Envoy's short response flags (<c>%RESPONSE_FLAGS%</c>), comma-separated; <c>-</c> for none, as Istio reports.</summary>
    internal static string Flags(ResponseFlags? flags)
    {
        if (flags is null)
        {
            return "-";
        }

        var text = new StringBuilder();
        Add(flags.FailedLocalHealthcheck, "LH");
        Add(flags.NoHealthyUpstream, "UH");
        Add(flags.UpstreamRequestTimeout, "UT");
        Add(flags.LocalReset, "LR");
        Add(flags.UpstreamRemoteReset, "UR");
        Add(flags.UpstreamConnectionFailure, "UF");
        Add(flags.UpstreamConnectionTermination, "UC");
        Add(flags.UpstreamOverflow, "UO");
        Add(flags.NoRouteFound, "NR");
        Add(flags.DelayInjected, "DI");
        Add(flags.FaultInjected, "FI");
        Add(flags.RateLimited, "RL");
        Add(flags.UnauthorizedDetails is not null, "UAEX");
        Add(flags.RateLimitServiceError, "RLSE");
        Add(flags.DownstreamConnectionTermination, "DC");
        Add(flags.UpstreamRetryLimitExceeded, "URX");
        Add(flags.StreamIdleTimeout, "SI");
        Add(flags.InvalidEnvoyRequestHeaders, "IH");
        Add(flags.DownstreamProtocolError, "DPE");
        Add(flags.UpstreamMaxStreamDurationReached, "UMSDR");
        Add(flags.ResponseFromCacheFilter, "RFCF");
        Add(flags.NoFilterConfigFound, "NFCF");
        Add(flags.DurationTimeout, "DT");
        Add(flags.UpstreamProtocolError, "UPE");
        Add(flags.NoClusterFound, "NC");
        Add(flags.OverloadManager, "OM");
        Add(flags.DnsResolutionFailure, "DF");
        Add(flags.DownstreamRemoteReset, "DR");
        return text.Length == 0 ? "-" : text.ToString();

        void Add(bool set, string code)
        {
            if (set)
            {
                if (text.Length > 0)
                {
                    text.Append(',');
                }

                text.Append(code);
            }
        }
    }
}
