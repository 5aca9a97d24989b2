using System.Text;
using System.Text.Json;

namespace Waypoint.Transformation.Templates;

/// <summary>
/// What a template can see while rendering: the headers of the message being transformed, the request's headers
/// (for response templates), the body and its parsed JSON. Not thread-safe; one per message.
/// </summary>
public sealed class TemplateScope
{
    private static readonly IReadOnlyDictionary<string, string> s_none = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
    private string? _bodyText;

    /// <summary>Headers of the message being transformed (case-insensitive keys); <c>header()</c> reads these.</summary>
    public IReadOnlyDictionary<string, string> Headers { get; init; } = s_none;

    /// <summary>The request's headers; <c>request_header()</c> reads these. Defaults to <see cref="Headers"/>.</summary>
    public IReadOnlyDictionary<string, string>? RequestHeaders { get; init; }

    /// <summary>The raw body; <c>body()</c> decodes it as UTF-8 on first use.</summary>
    public ReadOnlyMemory<byte> Body { get; init; }

    /// <summary>The parsed JSON body when the transform parses <c>AsJson</c>; top-level names and <c>context()</c> read it.</summary>
    public JsonElement? Json { get; init; }

    /// <summary>Looks up <c>env()</c>; defaults to this process's environment.</summary>
    public Func<string, string?> Environment { get; init; } = System.Environment.GetEnvironmentVariable;

    internal string BodyText => _bodyText ??= Encoding.UTF8.GetString(Body.Span);

    internal string Header(string name) => Headers.TryGetValue(name, out var value) ? value : string.Empty;

    internal string RequestHeader(string name) => (RequestHeaders ?? Headers).TryGetValue(name, out var value) ? value : string.Empty;
}
