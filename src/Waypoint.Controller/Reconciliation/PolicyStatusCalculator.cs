using Waypoint.Transformation.Model;

namespace Waypoint.Controller.Reconciliation;

/// <summary>
/// Writes the translator's TrafficPolicy ancestor statuses (GEP-713) back the Kubernetes way: only entries under our
/// controllerName are replaced, other controllers' ancestors stay, and lastTransitionTime moves only when a
/// condition's status flips (the translator, having no clock, leaves it at the epoch).
/// </summary>
internal static class PolicyStatusCalculator
{
    public static PolicyStatus Merge(PolicyStatus? current, IReadOnlyList<PolicyAncestorStatus> computed, string controllerName, DateTimeOffset now)
    {
        var previous = current?.Ancestors ?? [];
        var ancestors = previous.Where(a => a.ControllerName != controllerName).ToList();
        foreach (var ancestor in computed)
        {
            var old = previous.FirstOrDefault(p => p.ControllerName == controllerName && p.AncestorRef == ancestor.AncestorRef)?.Conditions;
            ancestors.Add(new PolicyAncestorStatus
            {
                AncestorRef = ancestor.AncestorRef,
                ControllerName = controllerName,
                Conditions = ancestor.Conditions
                    .Select(c => Conditions.Make(c.Type, c.Status == Conditions.True, c.Reason, c.Message, c.ObservedGeneration, old, now))
                    .ToList(),
            });
        }

        return new PolicyStatus { Ancestors = ancestors };
    }
}
