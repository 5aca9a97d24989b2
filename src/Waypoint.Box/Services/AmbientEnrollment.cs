using k8s.Models;

namespace Waypoint.Box.Services;

/// <summary>
/// Whether a Service is enrolled in the ambient mesh, by Istio's label <c>istio.io/dataplane-mode</c>: the Service's own
/// label decides when it has one (<c>ambient</c> enrolls, <c>none</c> opts out even in an ambient namespace), else its
/// namespace's label (<c>ambient</c>). Enrolled Services are captured by the ztunnel role inside client pods, so the
/// box's kube-proxy role leaves their VIPs alone; both sides ask this one rule.
/// </summary>
public static class AmbientEnrollment
{
    public const string DataplaneModeLabel = "istio.io/dataplane-mode";
    public const string Ambient = "ambient";
    public const string None = "none";

    public static bool IsEnrolled(V1Service service, IReadOnlyDictionary<string, string>? namespaceLabels)
    {
        ArgumentNullException.ThrowIfNull(service);
        if (service.Metadata?.Labels?.TryGetValue(DataplaneModeLabel, out var own) == true)
        {
            return own == Ambient;
        }

        return namespaceLabels?.TryGetValue(DataplaneModeLabel, out var inherited) == true && inherited == Ambient;
    }
}
