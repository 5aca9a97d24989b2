using System.Text.Json.Nodes;
using k8s;
using k8s.Models;

namespace Waypoint.Controller.Reconciliation;

/// <summary>
/// Whether a live owned object still is what the controller applied: the same desired version (config hash) and every
/// field the controller sets holding the controller's value. Fields the API server defaults or other managers add are
/// not drift; a changed or removed field of ours is.
/// </summary>
internal static class OwnedObjectDrift
{
    public static bool Matches(IKubernetesObject<V1ObjectMeta> live, IKubernetesObject<V1ObjectMeta> desired)
    {
        var hash = WaypointWorkload.ConfigHashAnnotation;
        if (live.Metadata.Annotations?.TryGetValue(hash, out var have) != true || desired.Metadata.Annotations?.TryGetValue(hash, out var want) != true || have != want)
        {
            return false;
        }

        return Contains(JsonNode.Parse(KubernetesJson.Serialize(live)), JsonNode.Parse(KubernetesJson.Serialize(desired)));
    }

    /// <summary>True when every value in <paramref name="subset"/> is in <paramref name="live"/>; list items match by content, in any order.</summary>
    internal static bool Contains(JsonNode? live, JsonNode? subset)
    {
        switch (subset)
        {
            case null:
                return true;
            case JsonObject wanted:
                return live is JsonObject have && wanted.All(p => have.TryGetPropertyValue(p.Key, out var value) && Contains(value, p.Value));
            case JsonArray wanted:
                if (live is not JsonArray items || items.Count < wanted.Count)
                {
                    return false;
                }

                // Scalar lists (args, command) are atomic: same items in the same order. Object lists (containers,
                // ports, env) may gain items from other managers; each of ours must still be there.
                return wanted.All(w => w is JsonObject)
                    ? wanted.All(w => items.Any(i => Contains(i, w)))
                    : items.Count == wanted.Count && wanted.Select((w, index) => Contains(items[index], w)).All(ok => ok);
            default:
                return live is JsonValue && JsonNode.DeepEquals(live, subset);
        }
    }
}
