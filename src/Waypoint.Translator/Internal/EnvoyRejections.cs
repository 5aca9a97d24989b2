using k8s;
using k8s.Models;
using Waypoint.Translator.Model;

namespace Waypoint.Translator.Internal;

/// <summary>Looks up the NACK feedback of <see cref="ClusterSnapshot.EnvoyRejections"/>.</summary>
internal static class EnvoyRejections
{
    /// <summary>The rejection of this object at its current generation; an edited object is translated again.</summary>
    public static EnvoyRejection? Find(ClusterSnapshot snapshot, string kind, IKubernetesObject<V1ObjectMeta> obj)
    {
        if (snapshot.EnvoyRejections.Count == 0)
        {
            return null;
        }

        var ns = obj.Metadata.NamespaceProperty ?? "default";
        foreach (var rejection in snapshot.EnvoyRejections)
        {
            if (rejection.Kind == kind && rejection.Namespace == ns && rejection.Name == obj.Metadata.Name && rejection.Generation == obj.Metadata.Generation)
            {
                return rejection;
            }
        }

        return null;
    }

    public static string Describe(EnvoyRejection rejection)
    {
        // Envoy's details can be long; a condition message holds at most 32,768 characters.
        var message = rejection.Message.Length <= 4096 ? rejection.Message : rejection.Message[..4093] + "...";
        return $"Envoy rejected the configuration made from this object: {message}";
    }
}
