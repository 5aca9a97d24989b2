using System.Text.Json.Serialization;
using Waypoint.Transformation.Model;

namespace Waypoint.Translator.Model;

/// <summary>Well-known Gateway API names.</summary>
public static class GatewayApi
{
    public const string Group = "gateway.networking.k8s.io";

    /// <summary>The label naming the Gateway a generated object (Deployment, Service, Pod) belongs to.</summary>
    public const string GatewayNameLabel = "gateway.networking.k8s.io/gateway-name";
}

/// <summary>A reference to a parent (Gateway, Service or ServiceEntry) of a route.</summary>
public sealed record ParentReference : GatewayParentReference;

/// <summary>A group/kind pair, as used by listener status and allowed route kinds.</summary>
public sealed record RouteGroupKind
{
    [JsonPropertyName("group")]
    public string? Group { get; set; }

    [JsonPropertyName("kind")]
    public string Kind { get; set; } = "";
}
