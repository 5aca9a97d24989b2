namespace Waypoint.Telemetry.RequestMetrics;

/// <summary>
/// The source workload's peer metadata as ztunnel sends it on the HBONE CONNECT, in a W3C <c>baggage</c> header:
/// <c>k8s.cluster.name=…,k8s.namespace.name=…,k8s.&lt;deployment|cronjob|pod|job&gt;.name=…,service.name=…,service.version=…</c>
/// (members it does not know are left out). Untrusted: the caller decides whether it agrees with the peer certificate.
/// </summary>
/// <param name="Cluster">The source's cluster ID (<c>k8s.cluster.name</c>).</param>
/// <param name="Namespace">The source's namespace (<c>k8s.namespace.name</c>).</param>
/// <param name="Workload">The source's workload name (a Deployment, CronJob, Job or bare pod), as istiod names it.</param>
/// <param name="CanonicalService">The canonical service (<c>service.name</c>: the <c>app</c> label or the workload name).</param>
/// <param name="CanonicalRevision">The canonical revision (<c>service.version</c>: the <c>version</c> label or <c>latest</c>).</param>
internal readonly record struct SourceBaggage(string? Cluster, string? Namespace, string? Workload, string? CanonicalService, string? CanonicalRevision)
{
    /// <summary>The longest value kept (a Kubernetes name is at most 253 characters); a longer one is dropped.</summary>
    public const int MaxValueLength = 253;

    /// <summary>The longest header parsed; a longer one is ignored whole.</summary>
    public const int MaxHeaderLength = 4096;

    public bool IsEmpty => Cluster is null && Namespace is null && Workload is null && CanonicalService is null && CanonicalRevision is null;

    /// <summary>
    /// The members ztunnel sends, from a <c>baggage</c> header value. List members are comma-separated
    /// <c>key=value</c> pairs with optional whitespace around them and optional <c>;property</c> suffixes (ignored);
    /// an empty value, a value with whitespace, control characters, quotes or backslashes, or a longer than
    /// <see cref="MaxValueLength"/> one is left out, a member without <c>=</c> is skipped, a repeated key keeps the last value.
    /// Null, empty or Envoy's <c>-</c> (no header) give an empty baggage.
    /// </summary>
    public static SourceBaggage Parse(string? header)
    {
        if (string.IsNullOrEmpty(header) || header == "-" || header.Length > MaxHeaderLength)
        {
            return default;
        }

        string? cluster = null, ns = null, workload = null, service = null, revision = null;
        foreach (var member in header.Split(','))
        {
            var equals = member.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                continue;
            }

            var key = member[..equals].Trim();
            var value = member[(equals + 1)..];
            var properties = value.IndexOf(';', StringComparison.Ordinal);
            if (properties >= 0)
            {
                value = value[..properties];
            }

            value = value.Trim();
            var kept = IsValue(value) ? value : null;
            switch (key)
            {
                case "k8s.cluster.name":
                    cluster = kept;
                    break;
                case "k8s.namespace.name":
                    ns = kept;
                    break;
                case "k8s.deployment.name" or "k8s.cronjob.name" or "k8s.pod.name" or "k8s.job.name":
                    workload = kept;
                    break;
                case "service.name":
                    service = kept;
                    break;
                case "service.version":
                    revision = kept;
                    break;
                default:
                    break;
            }
        }

        return new SourceBaggage(cluster, ns, workload, service, revision);
    }

    private static bool IsValue(string value)
    {
        if (value.Length is 0 or > MaxValueLength)
        {
            return false;
        }

        foreach (var c in value)
        {
            if (c <= ' ' || c >= 0x7f || c is '"' or '\\')
            {
                return false;
            }
        }

        return true;
    }
}
