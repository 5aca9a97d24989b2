using k8s.Models;

namespace Waypoint.Translator.Internal;

internal static class Conditions
{
    public const string Accepted = "Accepted";
    public const string ResolvedRefs = "ResolvedRefs";

    public static V1Condition True(string type, string reason, string message, long? generation) =>
        new() { Type = type, Status = "True", Reason = reason, Message = message, ObservedGeneration = generation };

    public static V1Condition False(string type, string reason, string message, long? generation) =>
        new() { Type = type, Status = "False", Reason = reason, Message = message, ObservedGeneration = generation };
}

internal static class LabelSelectors
{
    public static string? Get(IDictionary<string, string>? labels, string key) =>
        labels is not null && labels.TryGetValue(key, out var value) ? value : null;

    public static bool Matches(V1LabelSelector? selector, IDictionary<string, string>? labels)
    {
        if (selector is null)
        {
            return true;
        }

        labels ??= new Dictionary<string, string>();
        foreach (var (key, value) in selector.MatchLabels ?? new Dictionary<string, string>())
        {
            if (!labels.TryGetValue(key, out var actual) || actual != value)
            {
                return false;
            }
        }

        foreach (var expr in selector.MatchExpressions ?? [])
        {
            var has = labels.TryGetValue(expr.Key, out var actual);
            var values = expr.Values ?? [];
            var ok = expr.OperatorProperty switch
            {
                "In" => has && values.Contains(actual!),
                "NotIn" => !has || !values.Contains(actual!),
                "Exists" => has,
                "DoesNotExist" => !has,
                _ => false,
            };
            if (!ok)
            {
                return false;
            }
        }

        return true;
    }
}
