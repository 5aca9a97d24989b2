using System.Text.RegularExpressions;
using Waypoint.Transformation.Model;
using Waypoint.Transformation.Templates;

namespace Waypoint.Transformation.Compilation;

/// <summary>One header operation with its parsed template.</summary>
public sealed record HeaderTemplate(string Name, Template Value);

/// <summary>
/// One direction (request or response) of a transformation with every template parsed: what the transformation
/// service executes, and what the compiler inspects to decide between native Envoy config and the service.
/// </summary>
public sealed partial record TransformProgram
{
    public IReadOnlyList<HeaderTemplate> Set { get; init; } = [];

    public IReadOnlyList<HeaderTemplate> Add { get; init; } = [];

    /// <summary>Lower-cased header names.</summary>
    public IReadOnlyList<string> Remove { get; init; } = [];

    /// <summary>The new body, or null to leave the body as it is.</summary>
    public Template? Body { get; init; }

    /// <summary>The body is parsed as JSON (parseAs: AsJson) so templates can read its fields.</summary>
    public bool ParseAsJson { get; init; }

    /// <summary>Evaluating this direction needs the whole body buffered.</summary>
    public bool NeedsBody => Body is not null || ParseAsJson || Templates.Any(t => t.Analysis.ReadsBody || t.Analysis.ReadsJsonBody);

    public bool IsEmpty => Set.Count == 0 && Add.Count == 0 && Remove.Count == 0 && Body is null && !ParseAsJson;

    public IEnumerable<Template> Templates =>
        Set.Select(h => h.Value).Concat(Add.Select(h => h.Value)).Concat(Body is null ? [] : [Body]);

    /// <summary>Builds the program for <paramref name="spec"/>, adding every problem to <paramref name="errors"/> (prefixed by <paramref name="path"/>).</summary>
    public static TransformProgram Build(TransformSpec spec, string path, List<string> errors)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(errors);
        var set = Headers(spec.Set, $"{path}.set", errors);
        var add = Headers(spec.Add, $"{path}.add", errors);
        var remove = new List<string>();
        for (var i = 0; i < (spec.Remove?.Count ?? 0); i++)
        {
            var name = spec.Remove![i];
            if (!IsValidHeaderName(name))
            {
                errors.Add($"{path}.remove[{i}]: '{name}' is not a valid header name");
            }
            else if (name.StartsWith(':'))
            {
                errors.Add($"{path}.remove[{i}]: pseudo-header '{name}' cannot be removed");
            }
            else
            {
                remove.Add(name.ToLowerInvariant());
            }
        }

        Template? body = null;
        var parseAsJson = false;
        if (spec.Body is { } bodySpec)
        {
            switch (bodySpec.ParseAs)
            {
                case null or BodyParseBehavior.AsString:
                    break;
                case BodyParseBehavior.AsJson:
                    parseAsJson = true;
                    break;
                default:
                    errors.Add($"{path}.body.parseAs: '{bodySpec.ParseAs}' is not supported (use AsString or AsJson)");
                    break;
            }

            if (bodySpec.Value is { } value)
            {
                body = ParseTemplate(value, $"{path}.body.value", errors);
            }
        }

        var program = new TransformProgram { Set = set, Add = add, Remove = remove, Body = body, ParseAsJson = parseAsJson };
        if (!parseAsJson && program.Templates.FirstOrDefault(t => t.Analysis.ReadsJsonBody) is { } jsonReader)
        {
            errors.Add($"{path}: template '{Shorten(jsonReader.Source)}' reads the JSON body ({jsonReader.Analysis.FirstJsonField}) " +
                       "but body.parseAs is not AsJson; set body: {parseAs: AsJson}");
        }

        return program;
    }

    private static List<HeaderTemplate> Headers(IList<HeaderTransformation>? headers, string path, List<string> errors)
    {
        var result = new List<HeaderTemplate>();
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < (headers?.Count ?? 0); i++)
        {
            var header = headers![i];
            if (!IsValidHeaderName(header.Name))
            {
                errors.Add($"{path}[{i}].name: '{header.Name}' is not a valid header name");
                continue;
            }

            if (!seen.Add(header.Name))
            {
                errors.Add($"{path}[{i}].name: header '{header.Name}' appears more than once");
                continue;
            }

            var template = ParseTemplate(header.Value ?? string.Empty, $"{path}[{i}].value", errors);
            if (template is not null)
            {
                if (template.Analysis.IsLiteral && template.Source.AsSpan().IndexOfAny('\r', '\n', '\0') >= 0)
                {
                    errors.Add($"{path}[{i}].value: a header value cannot contain CR, LF or NUL");
                    continue;
                }

                result.Add(new HeaderTemplate(header.Name.ToLowerInvariant(), template));
            }
        }

        return result;
    }

    private static Template? ParseTemplate(string source, string path, List<string> errors)
    {
        if (Template.TryParse(source, out var template, out var error))
        {
            return template;
        }

        errors.Add($"{path}: invalid template at {error!.Message}");
        return null;
    }

    internal static string Shorten(string text) => text.Length <= 80 ? text : text[..77] + "...";

    public static bool IsValidHeaderName(string? name) => name is { Length: > 0 and <= 256 } && HeaderNameRegex().IsMatch(name);

    [GeneratedRegex(@"^:?[A-Za-z0-9!#$%&'*+\-.^_`|~]+$")]
    private static partial Regex HeaderNameRegex();
}
