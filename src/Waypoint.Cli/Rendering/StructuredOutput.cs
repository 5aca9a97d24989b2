using System.Text.Json;
using System.Text.Json.Nodes;
using Waypoint.Controller.Diagnostics;
using YamlDotNet.Serialization;

namespace Waypoint.Cli.Rendering;

/// <summary>The <c>-o</c> formats.</summary>
public enum OutputFormat
{
    Table,
    Json,
    Yaml,
}

/// <summary><c>-o json</c> and <c>-o yaml</c>: the debug API's documents as they are, for scripts.</summary>
public static class StructuredOutput
{
    private static readonly ISerializer s_yaml = new SerializerBuilder().WithQuotingNecessaryStrings().Build();

    public static bool TryParse(string? text, out OutputFormat format)
    {
        format = OutputFormat.Table;
        return text is null || Enum.TryParse(text, ignoreCase: true, out format) && Enum.IsDefined(format);
    }

    public static string Render<T>(T document, OutputFormat format) =>
        Render(JsonSerializer.SerializeToNode(document, ControllerDebugJson.Options), format);

    public static string Render(JsonNode? node, OutputFormat format) => format switch
    {
        OutputFormat.Yaml => s_yaml.Serialize(ToPlain(node)),
        _ => (node?.ToJsonString(ControllerDebugJson.Options) ?? "null") + "\n",
    };

    /// <summary>A JSON tree as dictionaries, lists and scalars, which YamlDotNet writes as YAML.</summary>
    private static object? ToPlain(JsonNode? node) => node switch
    {
        null => null,
        JsonObject o => o.ToDictionary(p => p.Key, p => ToPlain(p.Value)),
        JsonArray a => a.Select(ToPlain).ToList(),
        JsonValue v => v.GetValueKind() switch
        {
            JsonValueKind.String => v.GetValue<string>(),
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            JsonValueKind.Number when v.TryGetValue<long>(out var l) => l,
            JsonValueKind.Number => v.GetValue<double>(),
            _ => v.ToJsonString(),
        },
        _ => node.ToJsonString(),
    };
}
