using System.Text;
using System.Text.RegularExpressions;
using YamlDotNet.Serialization;

namespace Waypoint.Controller.Tests.Install;

/// <summary>
/// Renders the subset of Helm templating our chart uses (values, Release.Namespace, quote, if/with/end, toYaml|nindent)
/// so the chart can be checked without the helm binary. A construct outside the subset fails the test loudly.
/// </summary>
internal static partial class HelmTemplate
{
    public static string Render(string template, object values, string releaseNamespace)
    {
        var output = new StringBuilder();
        var stack = new Stack<(bool Emit, object? Dot)>();
        stack.Push((true, values));
        foreach (var line in template.Split('\n'))
        {
            var trimmed = line.Trim();
            var control = ControlRegex().Match(trimmed);
            if (control.Success)
            {
                var (keyword, argument) = (control.Groups[1].Value, control.Groups[2].Value.Trim());
                var (emit, dot) = stack.Peek();
                switch (keyword)
                {
                    case "if":
                        stack.Push((emit && Truthy(Resolve(argument, values, dot)), dot));
                        break;
                    case "with":
                        var value = Resolve(argument, values, dot);
                        stack.Push((emit && Truthy(value), value));
                        break;
                    case "end":
                        stack.Pop();
                        break;
                    default:
                        throw new NotSupportedException($"template keyword '{keyword}'");
                }

                continue;
            }

            var (emitting, current) = stack.Peek();
            if (!emitting)
            {
                continue;
            }

            var toYaml = ToYamlRegex().Match(trimmed);
            if (toYaml.Success)
            {
                var indent = new string(' ', int.Parse(toYaml.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture));
                var yaml = new SerializerBuilder().Build().Serialize(Resolve(toYaml.Groups[1].Value.Trim(), values, current)).TrimEnd();
                foreach (var yamlLine in yaml.Split('\n'))
                {
                    output.Append(indent).Append(yamlLine).Append('\n');
                }

                continue;
            }

            output.Append(ExpressionRegex().Replace(line, m =>
            {
                var parts = m.Groups[1].Value.Split('|', StringSplitOptions.TrimEntries);
                var text = parts[0] == ".Release.Namespace" ? releaseNamespace : Convert.ToString(Resolve(parts[0], values, current), System.Globalization.CultureInfo.InvariantCulture) ?? "";
                foreach (var filter in parts.Skip(1))
                {
                    text = filter == "quote" ? $"\"{text}\"" : throw new NotSupportedException($"template filter '{filter}'");
                }

                return text;
            })).Append('\n');
        }

        if (stack.Count != 1)
        {
            throw new InvalidOperationException("unbalanced if/with/end");
        }

        return output.ToString();
    }

    private static object? Resolve(string expression, object values, object? dot)
    {
        if (expression == ".")
        {
            return dot;
        }

        if (!expression.StartsWith(".Values.", StringComparison.Ordinal))
        {
            throw new NotSupportedException($"template expression '{expression}'");
        }

        object? node = values;
        foreach (var key in expression[".Values.".Length..].Split('.'))
        {
            node = node is IDictionary<object, object> map && map.TryGetValue(key, out var next)
                ? next
                : throw new KeyNotFoundException($"values.yaml has no {expression}");
        }

        return node;
    }

    private static bool Truthy(object? value) => value switch
    {
        null => false,
        string s => s.Length > 0 && s != "false",
        IDictionary<object, object> map => map.Count > 0,
        IList<object> list => list.Count > 0,
        _ => true,
    };

    [GeneratedRegex(@"^\{\{-?\s*(if|with|end|range|else|define|include)\b(.*?)-?\}\}$")]
    private static partial Regex ControlRegex();

    [GeneratedRegex(@"^\{\{-?\s*toYaml\s+(.+?)\s*\|\s*nindent\s+(\d+)\s*-?\}\}$")]
    private static partial Regex ToYamlRegex();

    [GeneratedRegex(@"\{\{-?\s*(.+?)\s*-?\}\}")]
    private static partial Regex ExpressionRegex();
}
