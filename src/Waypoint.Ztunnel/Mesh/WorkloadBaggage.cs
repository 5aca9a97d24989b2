using Istio.Workload;

namespace Waypoint.Ztunnel.Mesh;

/// <summary>
/// The peer metadata ztunnel sends for a source workload on its HBONE CONNECTs, as a W3C <c>baggage</c> header:
/// <c>k8s.cluster.name=…,k8s.namespace.name=…,k8s.&lt;deployment|cronjob|pod|job&gt;.name=…,service.name=…,service.version=…,cloud.region=…,cloud.availability_zone=…</c>,
/// from istiod's workload (its cluster ID, namespace, workload name and type — a ReplicaSet's pod is its
/// Deployment's —, canonical service and revision from the <c>app</c>/<c>version</c> labels, locality). A waypoint
/// reports the source workload from it. Unknown members are left out, and so is a value an Envoy header could not
/// carry as is (anything but letters, digits, <c>.</c>, <c>-</c> and <c>_</c>: the header is an Envoy format string).
/// </summary>
public static class WorkloadBaggage
{
    public const string HeaderName = "baggage";

    /// <summary>The header value for <paramref name="workload"/>; empty when istiod told nothing usable.</summary>
    public static string HeaderValue(Workload workload)
    {
        ArgumentNullException.ThrowIfNull(workload);
        var type = workload.WorkloadType switch
        {
            WorkloadType.Cronjob => "cronjob",
            WorkloadType.Pod => "pod",
            WorkloadType.Job => "job",
            _ => "deployment",
        };
        var members = new List<string>(7);
        Add("k8s.cluster.name", workload.ClusterId);
        Add("k8s.namespace.name", workload.Namespace);
        Add($"k8s.{type}.name", workload.WorkloadName);
        Add("service.name", workload.CanonicalName);
        Add("service.version", workload.CanonicalRevision);
        Add("cloud.region", workload.Locality?.Region);
        Add("cloud.availability_zone", workload.Locality?.Zone);
        return string.Join(',', members);

        void Add(string key, string? value)
        {
            if (!string.IsNullOrEmpty(value) && value.Length <= 253 && value.All(IsSafe))
            {
                members.Add($"{key}={value}");
            }
        }
    }

    private static bool IsSafe(char c) => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_';
}
