using k8s;
using k8s.Models;

namespace Waypoint.Controller.Reconciliation;

/// <summary>Condition lists the Kubernetes way: lastTransitionTime moves only when the status flips.</summary>
internal static class Conditions
{
    public const string True = "True";
    public const string False = "False";

    public static V1Condition Make(string type, bool status, string reason, string message, long? generation, IList<V1Condition>? previous, DateTimeOffset now)
    {
        var statusText = status ? True : False;
        var old = previous?.FirstOrDefault(c => c.Type == type);
        var transition = old is not null && old.Status == statusText
            ? old.LastTransitionTime
            : new DateTime(now.UtcDateTime.Ticks - (now.UtcDateTime.Ticks % TimeSpan.TicksPerSecond), DateTimeKind.Utc);
        return new V1Condition
        {
            Type = type,
            Status = statusText,
            Reason = reason,
            Message = message,
            ObservedGeneration = generation,
            LastTransitionTime = transition,
        };
    }

    /// <summary>Structural equality through the wire format (model records hold lists, which compare by reference).</summary>
    public static bool SameJson(object? a, object? b) =>
        string.Equals(a is null ? "null" : KubernetesJson.Serialize(a), b is null ? "null" : KubernetesJson.Serialize(b), StringComparison.Ordinal);
}
