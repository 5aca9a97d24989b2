using k8s.Models;

namespace Waypoint.Controller.Reconciliation;

/// <summary>
/// The part of a Pod the controller and the translator read, which is all the Pod informer keeps: in a cluster of
/// 10,000 Services the Pods outnumber every other kind, and their specs (containers, volumes, tolerations, security
/// contexts) and condition timestamps are most of each object.
/// </summary>
/// <remarks>
/// Read from a Pod: its name, namespace, labels (selectors, the data-plane mode, canonical names, the Gateway it belongs
/// to), its controller owner reference (the workload name), deletion timestamp, IPs and its Ready condition's status
/// (whether a waypoint pod is Ready; the other conditions are dropped). A new reader of another field must add it here.
/// The condition and phase strings are shared literals, and the informer pools the labels (<see cref="Client.StringPool"/>).
/// </remarks>
internal static class PodProjection
{
    private const string ReadyCondition = "Ready";

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
            Phase = Shared(status.Phase),
            PodIP = status.PodIP,
            PodIPs = status.PodIPs?.Select(ip => new V1PodIP { Ip = ip.Ip == status.PodIP ? status.PodIP : ip.Ip }).ToList(),
            Conditions = status.Conditions?.Where(c => c.Type == ReadyCondition).Select(c => new V1PodCondition { Type = ReadyCondition, Status = Shared(c.Status) }).ToList(),
        },
    };

    /// <summary>The literal for the usual condition statuses and phases, so 20,000 Pods do not each hold a copy.</summary>
    private static string? Shared(string? value) => value switch
    {
        "True" => "True",
        "False" => "False",
        "Unknown" => "Unknown",
        "Running" => "Running",
        "Pending" => "Pending",
        "Succeeded" => "Succeeded",
        "Failed" => "Failed",
        _ => value,
    };
}
