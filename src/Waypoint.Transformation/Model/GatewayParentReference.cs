using System.Text.Json.Serialization;

namespace Waypoint.Transformation.Model;

/// <summary>
/// Gateway API <c>ParentReference</c>, which the spec uses both for a route's <c>parentRefs</c> and for a
/// policy's <c>ancestorRef</c>. Abstract so that each side keeps its public record name; it lives here because
/// the translator, where routes are modelled, references this assembly and not the reverse.
/// </summary>
/// <remarks>Unset fields are left out when writing, as the spec's <c>omitempty</c> does, so a status write never sends nulls.</remarks>
public abstract record GatewayParentReference
{
    [JsonPropertyName("group")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Group { get; set; }

    [JsonPropertyName("kind")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Kind { get; set; }

    [JsonPropertyName("namespace")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Namespace { get; set; }

    [JsonPropertyName("name")]
    public string Name { get; set; } = "";

    [JsonPropertyName("sectionName")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? SectionName { get; set; }

    [JsonPropertyName("port")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Port { get; set; }
}
