using System.Runtime.CompilerServices;
using System.Text.Json;
using k8s;
using Waypoint.Translator.Model;

namespace Waypoint.Controller.Reconciliation;

/// <summary>
/// Gateway <c>spec.infrastructure.parametersRef</c>, which the shared model does not carry: read from the raw JSON when
/// the informer decodes a Gateway and kept beside the object.
/// </summary>
internal static class GatewayParametersRef
{
    private static readonly ConditionalWeakTable<V1Gateway, ParametersReference> Refs = new();

    public static V1Gateway Deserialize(JsonElement element)
    {
        var gateway = KubernetesJson.Deserialize<V1Gateway>(element);
        if (element.TryGetProperty("spec", out var spec) && spec.ValueKind == JsonValueKind.Object
            && spec.TryGetProperty("infrastructure", out var infrastructure) && infrastructure.ValueKind == JsonValueKind.Object
            && infrastructure.TryGetProperty("parametersRef", out var reference) && reference.ValueKind == JsonValueKind.Object)
        {
            Refs.AddOrUpdate(gateway, KubernetesJson.Deserialize<ParametersReference>(reference));
        }

        return gateway;
    }

    public static ParametersReference? Get(V1Gateway gateway) => Refs.TryGetValue(gateway, out var reference) ? reference : null;
}
