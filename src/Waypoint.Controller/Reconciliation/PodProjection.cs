using k8s.Models;

namespace Waypoint.Controller.Reconciliation;

/// <summary>
/// The part of a Pod the controller and the translator read, which is all the Pod informer keeps: in a cluster of
/// 10,000 Services the Pods outnumber every other kind, and their specs (containers, volumes, tolerations, security
/// contexts) and condition timestamps are most of each object.
/// </summary>
/// <remarks>
/// Read from a Pod: its name, namespace, labels (selectors, the data-plane mode, canonical names, the Gateway it belongs
/// to), its controller owner reference (the workload name), deletion timestamp, its IP (<c>status.podIP</c>; no reader
/// takes <c>status.podIPs</c>, so it is dropped) and its Ready condition's status (whether a waypoint pod is Ready; the
/// other conditions are dropped). A new reader of another field must add it here. The condition lists, condition and
/// phase strings are shared read-only instances, and the informer pools the labels (<see cref="Client.StringPool"/>).
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
            OwnerReferences = ControllerOwner(pod.Metadata.OwnerReferences),
        },
        Status = pod.Status is not { } status ? null : new V1PodStatus
        {
            Phase = Shared(status.Phase),
            PodIP = status.PodIP,
            Conditions = ReadyConditions(status.Conditions),
        },
    };

    // One read-only list per Ready status, shared by every Pod (nothing changes a cached Pod's conditions).
    private static readonly IList<V1PodCondition> ReadyTrue = Conditions("True");
    private static readonly IList<V1PodCondition> ReadyFalse = Conditions("False");
    private static readonly IList<V1PodCondition> ReadyUnknown = Conditions("Unknown");
    private static readonly IList<V1PodCondition> NoReadyCondition = Array.AsReadOnly(Array.Empty<V1PodCondition>());

    private static IList<V1PodCondition>? ReadyConditions(IList<V1PodCondition>? conditions)
    {
        if (conditions is null)
        {
            return null;
        }

        if (conditions.FirstOrDefault(c => c.Type == ReadyCondition) is not { } ready)
        {
            return NoReadyCondition;
        }

        return ready.Status switch
        {
            "True" => ReadyTrue,
            "False" => ReadyFalse,
            "Unknown" => ReadyUnknown,
            var other => Conditions(other),
        };
    }

    private static System.Collections.ObjectModel.ReadOnlyCollection<V1PodCondition> Conditions(string status) => Array.AsReadOnly(new[] { new V1PodCondition { Type = ReadyCondition, Status = status } });

    /// <summary>The controller owner reference (the workload), its API version and kind pooled; null without one.</summary>
    private static List<V1OwnerReference>? ControllerOwner(IList<V1OwnerReference>? owners)
    {
        if (owners?.FirstOrDefault(o => o.Controller == true) is not { } owner)
        {
            return null;
        }

        var pool = Client.StringPool.Shared;
        return [new V1OwnerReference { ApiVersion = pool.Intern(owner.ApiVersion), Kind = pool.Intern(owner.Kind), Name = owner.Name, Uid = owner.Uid, Controller = true }];
    }

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
