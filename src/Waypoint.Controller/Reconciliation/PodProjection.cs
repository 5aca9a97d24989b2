using k8s.Models;

namespace Waypoint.Controller.Reconciliation;

/// <summary>
/// The part of a Pod the controller and the translator read, which is all the Pod informer keeps: in a cluster of
/// 10,000 Services the Pods outnumber every other kind, and their specs (containers, volumes, tolerations, security
/// contexts) and condition timestamps are most of each object.
/// </summary>
/// <remarks>
/// Read from a Pod: its name, namespace, labels (selectors, the data-plane mode, canonical names, the Gateway it belongs
/// to), its controller owner reference (the workload name), deletion timestamp, IPs and the type and status of its
/// conditions (whether a waypoint pod is Ready). A new reader of another field must add it here.
/// </remarks>
internal static class PodProjection
{
    public static V1Pod Of(V1Pod pod) => new()
    {
        ApiVersion = pod.ApiVersion,
        Kind = pod.Kind,
        Metadata = new V1ObjectMeta
        {
            Name = pod.Metadata.Name,
            NamespaceProperty = pod.Metadata.NamespaceProperty,
            Uid = pod.Metadata.Uid,
            ResourceVersion = pod.Metadata.ResourceVersion,
            Generation = pod.Metadata.Generation,
            DeletionTimestamp = pod.Metadata.DeletionTimestamp,
            Labels = pod.Metadata.Labels,
            OwnerReferences = pod.Metadata.OwnerReferences?
                .Where(o => o.Controller == true)
                .Select(o => new V1OwnerReference { ApiVersion = o.ApiVersion, Kind = o.Kind, Name = o.Name, Uid = o.Uid, Controller = true })
                .ToList(),
        },
        Status = pod.Status is not { } status ? null : new V1PodStatus
        {
            Phase = status.Phase,
            PodIP = status.PodIP,
            PodIPs = status.PodIPs,
            Conditions = status.Conditions?.Select(c => new V1PodCondition { Type = c.Type, Status = c.Status }).ToList(),
        },
    };
}
