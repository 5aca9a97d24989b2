using System.Text.Json.Serialization;
using k8s.Models;
using Waypoint.Transformation.Model;

namespace Waypoint.Translator.Model;

/// <summary>gateway.networking.k8s.io/v1 GatewayClass.</summary>
[KubernetesEntity(Group = KubeGroup, Kind = KubeKind, ApiVersion = KubeApiVersion, PluralName = KubePluralName)]
public sealed record V1GatewayClass() : KubernetesResource<V1GatewayClassSpec, V1GatewayClassStatus>(KubeGroup, KubeApiVersion, KubeKind)
{
    public const string KubeGroup = GatewayApi.Group;
    public const string KubeApiVersion = "v1";
    public const string KubeKind = "GatewayClass";
    public const string KubePluralName = "gatewayclasses";
}

public sealed record V1GatewayClassSpec
{
    [JsonPropertyName("controllerName")]
    public string ControllerName { get; set; } = "";

    [JsonPropertyName("description")]
    public string? Description { get; set; }

    [JsonPropertyName("parametersRef")]
    public ParametersReference? ParametersRef { get; set; }
}

public sealed record ParametersReference
{
    [JsonPropertyName("group")]
    public string Group { get; set; } = "";

    [JsonPropertyName("kind")]
    public string Kind { get; set; } = "";

    [JsonPropertyName("name")]
    public string Name { get; set; } = "";

    [JsonPropertyName("namespace")]
    public string? Namespace { get; set; }
}

public sealed record V1GatewayClassStatus
{
    [JsonPropertyName("conditions")]
    public IList<V1Condition>? Conditions { get; set; }
}

/// <summary>A list of GatewayClasses, for the generic client.</summary>
[KubernetesEntity(Group = V1GatewayClass.KubeGroup, Kind = "GatewayClassList", ApiVersion = V1GatewayClass.KubeApiVersion, PluralName = V1GatewayClass.KubePluralName)]
public sealed record V1GatewayClassList() : KubernetesResourceList<V1GatewayClass>(V1GatewayClass.KubeGroup, V1GatewayClass.KubeApiVersion, "GatewayClassList");
