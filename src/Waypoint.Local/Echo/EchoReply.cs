using System.Text.Json;
using System.Text.Json.Serialization;

namespace Waypoint.Local.Echo;

/// <summary>What an echo app saw: the JSON body of every HTTP reply, and one entry of <see cref="EchoRecorder"/>.</summary>
public sealed record EchoReply
{
    public static JsonSerializerOptions JsonOptions { get; } = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public string Pod { get; init; } = string.Empty;

    public string Namespace { get; init; } = string.Empty;

    /// <summary>The app's address, <c>podIP:port</c>.</summary>
    public string Address { get; init; } = string.Empty;

    public string Method { get; init; } = string.Empty;

    public string Path { get; init; } = string.Empty;

    /// <summary>The raw query string including <c>?</c>, or empty.</summary>
    public string Query { get; init; } = string.Empty;

    public string Host { get; init; } = string.Empty;

    public string Protocol { get; init; } = string.Empty;

    /// <summary>Request headers, lower-case names; repeated headers joined with <c>,</c>.</summary>
    public IReadOnlyDictionary<string, string> Headers { get; init; } = new Dictionary<string, string>();

    /// <summary>The status the app answered with.</summary>
    public int Status { get; init; }

    /// <summary>For "fail N times": which attempt this was for its key (1-based), else 0.</summary>
    public int Attempt { get; init; }

    [JsonIgnore]
    public DateTimeOffset ReceivedAt { get; init; }

    public string? Header(string name) => Headers.TryGetValue(name.ToLowerInvariant(), out var value) ? value : null;

    public static EchoReply Parse(string json) =>
        JsonSerializer.Deserialize<EchoReply>(json, JsonOptions) ?? throw new JsonException("The echo reply is empty.");
}
