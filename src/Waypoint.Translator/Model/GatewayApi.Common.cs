using System.Text.Json.Serialization;

namespace Waypoint.Translator.Model;

/// <summary>Well-known Gateway API names.</summary>
public static class GatewayApi
{
    public const string Group = "gateway.networking.k8s.io";

    public const string ControllerNameLabel = "gateway.networking.k8s.io/gateway-name";
}

/// <summary>A reference to a parent (Gateway, Service or ServiceEntry) of a route.</summary>
public sealed record ParentReference
{
    [JsonPropertyName("group")]
    public string? Group { get; set; }

    [JsonPropertyName("kind")]
    public string? Kind { get; set; }

    [JsonPropertyName("namespace")]
    public string? Namespace { get; set; }

    [JsonPropertyName("name")]
    public string Name { get; set; } = "";

    [JsonPropertyName("sectionName")]
    public string? SectionName { get; set; }

    [JsonPropertyName("port")]
    public int? Port { get; set; }
}

/// <summary>A group/kind pair, as used by listener status and allowed route kinds.</summary>
public sealed record RouteGroupKind
{
    [JsonPropertyName("group")]
    public string? Group { get; set; }

    [JsonPropertyName("kind")]
    public string Kind { get; set; } = "";
}
