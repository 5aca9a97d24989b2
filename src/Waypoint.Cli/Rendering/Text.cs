using System.Globalization;
using Waypoint.Controller.Diagnostics;

namespace Waypoint.Cli.Rendering;

/// <summary>Small formatting rules shared by the text renderers.</summary>
internal static class Text
{
    public static string Conditions(IEnumerable<DebugCondition> conditions) =>
        string.Join(" ", conditions.Select(c => $"{c.Type}={c.Status}{(c.Status == "True" || c.Reason is null ? "" : $"({c.Reason})")}")) is { Length: > 0 } text ? text : "-";

    public static string Condition(DebugCondition? condition) =>
        condition is null ? "-" : $"{condition.Status}{(condition.Reason is null ? "" : $" ({condition.Reason})")}";

    public static string Time(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    /// <summary>kubectl's age style: 45s, 12m, 3h10m, 2d4h; negative means in the past ("expired 3m ago" is the caller's).</summary>
    public static string Duration(TimeSpan span)
    {
        span = span.Duration();
        return span.TotalSeconds < 120 ? $"{(int)span.TotalSeconds}s"
            : span.TotalMinutes < 60 ? $"{(int)span.TotalMinutes}m"
            : span.TotalHours < 48 ? $"{(int)span.TotalHours}h{span.Minutes}m"
            : $"{(int)span.TotalDays}d{span.Hours}h";
    }

    public static string Expiry(DateTimeOffset? notAfter, DateTimeOffset now) => notAfter switch
    {
        null => "-",
        { } t when t <= now => $"EXPIRED {Duration(now - t)} ago",
        { } t => $"in {Duration(t - now)}",
    };

    public static string OrDash(string? value) => string.IsNullOrEmpty(value) ? "-" : value;

    public static string OneLine(string text) => text.ReplaceLineEndings(" ");
}
