using k8s.Models;
using Waypoint.Transformation.Model;

namespace Waypoint.Transformation.Compilation;

/// <summary>Builds the Gateway API policy status (GEP-713) for a TrafficPolicy.</summary>
public static class TrafficPolicyStatus
{
    /// <summary>
    /// The ancestor status for one ancestor (the Gateway or HTTPRoute the policy targets): Accepted=True, or
    /// Accepted=False with reason Invalid (compile errors, named field by field) or Conflicted (lost to an older policy).
    /// </summary>
    public static PolicyAncestorStatus ForAncestor(
        V1alpha1TrafficPolicy policy,
        TrafficPolicyCompileResult result,
        PolicyAncestorReference ancestor,
        string controllerName,
        IEnumerable<PolicyConflict>? conflicts,
        DateTime now)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(result);
        var key = $"{policy.Metadata?.NamespaceProperty}/{policy.Metadata?.Name}";
        var lost = (conflicts ?? []).Where(c => c.Policy == key).ToList();
        var (status, reason, message) =
            !result.Succeeded ? ("False", PolicyConditions.ReasonInvalid, $"Policy not applied: {result.ErrorMessage}") :
            lost.Count > 0 ? ("False", PolicyConditions.ReasonConflicted,
                "Policy not applied: " + string.Join("; ", lost.Select(c => $"{c.Feature} is already set by the older policy {c.WinningPolicy}"))) :
            ("True", PolicyConditions.ReasonAccepted, "Policy accepted");
        return new PolicyAncestorStatus
        {
            AncestorRef = ancestor,
            ControllerName = controllerName,
            Conditions =
            [
                new V1Condition
                {
                    Type = PolicyConditions.Accepted,
                    Status = status,
                    Reason = reason,
                    Message = message.Length <= 32768 ? message : message[..32765] + "...",
                    ObservedGeneration = policy.Metadata?.Generation,
                    LastTransitionTime = now,
                },
            ],
        };
    }
}
