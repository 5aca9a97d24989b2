using k8s.Models;
using Waypoint.Translator.Model;

namespace Waypoint.Controller.Reconciliation;

/// <summary>
/// Writes the translator's HTTPRoute parent statuses back the Kubernetes way: our entries replace our previous ones,
/// entries of other controllers stay, and lastTransitionTime moves only when a condition's status flips.
/// </summary>
internal static class RouteStatusCalculator
{
    public static List<RouteParentStatus> WithTransitionTimes(IReadOnlyList<RouteParentStatus> computed, V1RouteStatus? current, string controllerName, DateTimeOffset now)
    {
        var previous = current?.Parents ?? [];
        var result = new List<RouteParentStatus>(computed.Count);
        foreach (var parent in computed)
        {
            var old = previous.FirstOrDefault(p => p.ControllerName == controllerName && Same(p.ParentRef, parent.ParentRef))?.Conditions;
            result.Add(new RouteParentStatus
            {
                ParentRef = parent.ParentRef,
                ControllerName = controllerName,
                Conditions = parent.Conditions
                    .Select(c => Conditions.Make(c.Type, c.Status == Conditions.True, c.Reason, c.Message, c.ObservedGeneration, old, now))
                    .ToList(),
            });
        }

        return result;
    }

    public static V1RouteStatus Merge(V1RouteStatus? current, List<RouteParentStatus> ours, string controllerName)
    {
        var parents = (current?.Parents ?? []).Where(p => p.ControllerName != controllerName).ToList();
        parents.AddRange(ours);
        return new V1RouteStatus { Parents = parents };
    }

    private static bool Same(ParentReference a, ParentReference b) =>
        a.Name == b.Name && a.Namespace == b.Namespace && a.Kind == b.Kind && a.Group == b.Group && a.SectionName == b.SectionName && a.Port == b.Port;
}
