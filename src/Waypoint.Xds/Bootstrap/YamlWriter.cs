using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Waypoint.Xds.Bootstrap;

/// <summary>A small JSON → block-style YAML writer for rendering bootstraps (strings are always quoted).</summary>
internal static class YamlWriter
{
    public static void Write(StringBuilder output, JsonNode? node, int indent, bool inSequence)
    {
        switch (node)
        {
            case JsonObject obj when obj.Count > 0:
                var first = true;
                foreach (var (key, value) in obj)
                {
                    if (!(first && inSequence))
                    {
                        output.Append(' ', indent);
                    }

                    first = false;
                    output.Append(Key(key)).Append(':');
                    WriteValue(output, value, indent);
                }

                break;
            case JsonArray array when array.Count > 0:
                foreach (var item in array)
                {
                    output.Append(' ', indent).Append("- ");
                    if (item is JsonObject { Count: > 0 } or JsonArray { Count: > 0 })
                    {
                        if (item is JsonArray)
                        {
                            output.Append('\n');
                            Write(output, item, indent + 2, inSequence: false);
                        }
                        else
                        {
                            Write(output, item, indent + 2, inSequence: true);
                        }
                    }
                    else
                    {
                        output.Append(Scalar(item)).Append('\n');
                    }
                }

                break;
            default:
                output.Append(' ', indent).Append(Scalar(node)).Append('\n');
                break;
        }
    }

    private static void WriteValue(StringBuilder output, JsonNode? value, int indent)
    {
        if (value is JsonObject { Count: > 0 } or JsonArray { Count: > 0 })
        {
            output.Append('\n');
            Write(output, value, indent + 2, inSequence: false);
        }
        else
        {
            output.Append(' ').Append(Scalar(value)).Append('\n');
        }
    }

    private static string Key(string key) =>
        key.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '-') && key.Length > 0 && !char.IsAsciiDigit(key[0]) ? key : Quote(key);

    private static string Scalar(JsonNode? node) => node switch
    {
        null => "null",
        JsonObject => "{}",
        JsonArray => "[]",
        JsonValue value when value.GetValueKind() == JsonValueKind.String => Quote(value.GetValue<string>()),
        JsonValue value when value.GetValueKind() is JsonValueKind.True or JsonValueKind.False =>
            value.GetValue<bool>() ? "true" : "false",
        _ => Convert.ToString(node.ToJsonString(), CultureInfo.InvariantCulture),
    };

    // JSON string escaping is valid YAML double-quoted escaping.
    private static string Quote(string text) => JsonSerializer.Serialize(text);
}
