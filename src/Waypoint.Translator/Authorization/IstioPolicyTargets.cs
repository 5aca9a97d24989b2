using Waypoint.Translator.Model;

namespace Waypoint.Translator.Authorization;

/// <summary>The targets of an Istio policy: the deprecated single <c>targetRef</c> (read as one more) and <c>targetRefs</c>.</summary>
internal static class IstioPolicyTargets
{
    public static List<IstioPolicyTargetReference> Of(IstioPolicyTargetReference? targetRef, IList<IstioPolicyTargetReference>? targetRefs)
    {
        var targets = new List<IstioPolicyTargetReference>((targetRefs?.Count ?? 0) + 1);
        if (targetRef is not null)
        {
            targets.Add(targetRef);
        }

        targets.AddRange(targetRefs ?? []);
        return targets;
    }
}
