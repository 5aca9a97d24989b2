using System.Globalization;
using System.Text.RegularExpressions;

namespace Waypoint.Translator.Internal;

/// <summary>Gateway API durations (GEP-2257): one to four <c>&lt;number&gt;&lt;h|m|s|ms&gt;</c> parts.</summary>
internal static partial class Durations
{
    public static bool TryParse(string? text, out TimeSpan value)
    {
        value = TimeSpan.Zero;
        if (string.IsNullOrEmpty(text) || !Whole().IsMatch(text))
        {
            return false;
        }

        foreach (Match part in Part().Matches(text))
        {
            var number = long.Parse(part.Groups[1].Value, CultureInfo.InvariantCulture);
            value += part.Groups[2].Value switch
            {
                "h" => TimeSpan.FromHours(number),
                "m" => TimeSpan.FromMinutes(number),
                "s" => TimeSpan.FromSeconds(number),
                _ => TimeSpan.FromMilliseconds(number),
            };
        }

        return true;
    }

    [GeneratedRegex(@"^([0-9]{1,5}(h|m|s|ms)){1,4}$")]
    private static partial Regex Whole();

    [GeneratedRegex(@"([0-9]{1,5})(ms|h|m|s)")]
    private static partial Regex Part();
}
