using System.Globalization;
using System.Text.RegularExpressions;

namespace Waypoint.Transformation.Compilation;

/// <summary>Gateway API duration strings (GEP-2257): <c>^([0-9]{1,5}(h|m|s|ms)){1,4}$</c>, e.g. <c>1h30m</c>, <c>500ms</c>.</summary>
public static partial class GatewayDuration
{
    public static bool TryParse(string? text, out TimeSpan duration)
    {
        duration = TimeSpan.Zero;
        if (text is null || !DurationRegex().IsMatch(text))
        {
            return false;
        }

        foreach (Match part in PartRegex().Matches(text))
        {
            var value = long.Parse(part.Groups[1].Value, CultureInfo.InvariantCulture);
            duration += part.Groups[2].Value switch
            {
                "h" => TimeSpan.FromHours(value),
                "m" => TimeSpan.FromMinutes(value),
                "s" => TimeSpan.FromSeconds(value),
                _ => TimeSpan.FromMilliseconds(value),
            };
        }

        return true;
    }

    [GeneratedRegex("^([0-9]{1,5}(h|m|s|ms)){1,4}$")]
    private static partial Regex DurationRegex();

    [GeneratedRegex("([0-9]{1,5})(ms|h|m|s)")]
    private static partial Regex PartRegex();
}
