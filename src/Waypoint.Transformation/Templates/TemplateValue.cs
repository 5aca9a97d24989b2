using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Waypoint.Transformation.Templates;

internal enum TemplateValueKind
{
    /// <summary>A JSON path that does not exist: falsy in conditions, an error when rendered.</summary>
    Missing,
    Null,
    Boolean,
    Number,
    String,

    /// <summary>A JSON number, object or array taken from the body; rendered as compact JSON.</summary>
    Json,
}

/// <summary>A value during template evaluation. Small and allocation-free for the common string case.</summary>
internal readonly struct TemplateValue
{
    public static readonly TemplateValue Missing;
    public static readonly TemplateValue Null = new(TemplateValueKind.Null, null, 0, default);
    public static readonly TemplateValue True = new(TemplateValueKind.Boolean, null, 1, default);
    public static readonly TemplateValue False = new(TemplateValueKind.Boolean, null, 0, default);
    public static readonly TemplateValue Empty = new(TemplateValueKind.String, string.Empty, 0, default);

    private readonly string? _string;
    private readonly double _number;
    private readonly JsonElement _json;

    private TemplateValue(TemplateValueKind kind, string? text, double number, JsonElement json)
    {
        Kind = kind;
        _string = text;
        _number = number;
        _json = json;
    }

    public TemplateValueKind Kind { get; }

    public static TemplateValue FromString(string value) => new(TemplateValueKind.String, value, 0, default);

    public static TemplateValue FromNumber(double value) => new(TemplateValueKind.Number, null, value, default);

    public static TemplateValue FromBoolean(bool value) => value ? True : False;

    public static TemplateValue FromJson(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.String => FromString(element.GetString()!),
        JsonValueKind.True => True,
        JsonValueKind.False => False,
        JsonValueKind.Null => Null,
        JsonValueKind.Undefined => Missing,
        _ => new(TemplateValueKind.Json, null, 0, element),
    };

    public bool IsTruthy => Kind switch
    {
        TemplateValueKind.Missing or TemplateValueKind.Null => false,
        TemplateValueKind.Boolean or TemplateValueKind.Number => _number != 0,
        TemplateValueKind.String => _string!.Length > 0,
        _ => _json.ValueKind switch
        {
            JsonValueKind.Number => _json.GetDouble() != 0,
            JsonValueKind.Array => _json.GetArrayLength() > 0,
            _ => true,
        },
    };

    public bool TryGetJson(out JsonElement element)
    {
        element = _json;
        return Kind == TemplateValueKind.Json;
    }

    public bool TryGetNumber(out double number)
    {
        switch (Kind)
        {
            case TemplateValueKind.Number:
                number = _number;
                return true;
            case TemplateValueKind.Json when _json.ValueKind == JsonValueKind.Number:
                number = _json.GetDouble();
                return true;
            default:
                number = 0;
                return false;
        }
    }

    /// <summary>The rendered text; <see cref="TemplateValueKind.Missing"/> renders as empty (callers decide whether that is an error).</summary>
    public string AsString() => Kind switch
    {
        TemplateValueKind.String => _string!,
        TemplateValueKind.Missing => string.Empty,
        TemplateValueKind.Null => "null",
        TemplateValueKind.Boolean => _number != 0 ? "true" : "false",
        TemplateValueKind.Number => FormatNumber(_number),
        _ => _json.GetRawText().Length < 64 && _json.ValueKind == JsonValueKind.Number ? _json.GetRawText() : Compact(_json),
    };

    public void AppendTo(StringBuilder builder)
    {
        if (Kind == TemplateValueKind.String)
        {
            builder.Append(_string);
        }
        else
        {
            builder.Append(AsString());
        }
    }

    internal static string FormatNumber(double value) =>
        value == Math.Floor(value) && Math.Abs(value) < 1e15
            ? ((long)value).ToString(CultureInfo.InvariantCulture)
            : value.ToString("R", CultureInfo.InvariantCulture);

    private static string Compact(JsonElement element)
    {
        if (element.ValueKind == JsonValueKind.Number)
        {
            return element.GetRawText();
        }

        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            element.WriteTo(writer);
        }

        return Encoding.UTF8.GetString(stream.GetBuffer(), 0, (int)stream.Length);
    }
}
