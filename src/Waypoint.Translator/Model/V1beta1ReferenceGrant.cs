using System.Text.Json.Serialization;
using k8s.Models;
using Waypoint.Transformation.Model;

namespace Waypoint.Translator.Model;

/// <summary>gateway.networking.k8s.io/v1beta1 ReferenceGrant.</summary>
[KubernetesEntity(Group = KubeGroup, Kind = KubeKind, ApiVersion = KubeApiVersion, PluralName = KubePluralName)]
public sealed record V1beta1ReferenceGrant() : KubernetesResource<V1beta1ReferenceGrantSpec>(KubeGroup, KubeApiVersion, KubeKind)
{
    public const string KubeGroup = GatewayApi.Group;
    public const string KubeApiVersion = "v1beta1";
    public const string KubeKind = "ReferenceGrant";
    public const string KubePluralName = "referencegrants";
}

public sealed record V1beta1ReferenceGrantSpec
{
    [JsonPropertyName("from")]
    public IList<ReferenceGrantFrom> From { get; set; } = [];

    [JsonPropertyName("to")]
    public IList<ReferenceGrantTo> To { get; set; } = [];
}

public sealed record ReferenceGrantFrom
{
    [JsonPropertyName("group")]
    public string Group { get; set; } = "";

    [JsonPropertyName("kind")]
    public string Kind { get; set; } = "";

    [JsonPropertyName("namespace")]
    public string Namespace { get; set; } = "";
}

public sealed record ReferenceGrantTo
{
    [JsonPropertyName("group")]
    public string Group { get; set; } = "";

    [JsonPropertyName("kind")]
    public string Kind { get; set; } = "";

    [JsonPropertyName("name")]
    public string? Name { get; set; }
}

/// <summary>A list of ReferenceGrants, for the generic client.</summary>
[KubernetesEntity(Group = V1beta1ReferenceGrant.KubeGroup, Kind = "ReferenceGrantList", ApiVersion = V1beta1ReferenceGrant.KubeApiVersion, PluralName = V1beta1ReferenceGrant.KubePluralName)]
public sealed record V1beta1ReferenceGrantList() : KubernetesResourceList<V1beta1ReferenceGrant>(V1beta1ReferenceGrant.KubeGroup, V1beta1ReferenceGrant.KubeApiVersion, "ReferenceGrantList");
