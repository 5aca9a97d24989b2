using System.Globalization;

namespace Waypoint.Translator.Tests.Acceptance;

/// <summary>Reads samples from Prometheus' text format.</summary>
internal static class PrometheusText
{
    /// <summary>The sum of the samples of <paramref name="name"/> whose labels include all of <paramref name="labels"/>; null if there are none.</summary>
    public static double? Value(string text, string name, IReadOnlyList<(string Name, string Value)> labels)
    {
        double? total = null;
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0 || line[0] == '#' || !line.StartsWith(name, StringComparison.Ordinal))
            {
                continue;
            }

            var rest = line[name.Length..];
            if (rest.Length == 0 || (rest[0] != '{' && rest[0] != ' '))
            {
                continue; // a longer name with this prefix
            }

            var labelText = rest[0] == '{' ? rest[1..rest.LastIndexOf('}')] : string.Empty;
            if (labels.All(l => labelText.Contains($"{l.Name}=\"{l.Value}\"", StringComparison.Ordinal)))
            {
                var value = rest[(rest.LastIndexOf(' ') + 1)..];
                if (rest[0] == '{')
                {
                    var afterLabels = rest[(rest.LastIndexOf('}') + 1)..].Trim().Split(' ');
                    value = afterLabels[0];
                }

                total = (total ?? 0) + double.Parse(value, CultureInfo.InvariantCulture);
            }
        }

        return total;
    }
}
