using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Waypoint.Agent.DevCa;

/// <summary>
/// Unsigned JWTs shaped like projected ServiceAccount tokens (<c>sub</c>, <c>aud</c>, <c>exp</c>,
/// <c>kubernetes.io</c>), for a dev CA using <see cref="UnsignedJwtTokenReviewer"/>. Worthless outside that pairing.
/// </summary>
public static class DevTokens
{
    public const string IstioCaAudience = "istio-ca";

    public static string CreateServiceAccountToken(string @namespace, string serviceAccount, DateTimeOffset expiresAt, IEnumerable<string>? audiences = null, string? podName = null) =>
        Create($"system:serviceaccount:{@namespace}:{serviceAccount}", expiresAt, audiences ?? [IstioCaAudience], podName is null ? null : (@namespace, podName));

    /// <summary>A token for any subject (e.g. a user or node), to exercise istiod's "not a ServiceAccount" rejection.</summary>
    public static string Create(string subject, DateTimeOffset expiresAt, IEnumerable<string> audiences, (string Namespace, string PodName)? pod = null)
    {
        var payload = new JsonObject
        {
            ["iss"] = "https://kubernetes.default.svc",
            ["sub"] = subject,
            ["aud"] = new JsonArray([.. audiences.Select(a => (JsonNode)a)]),
            ["exp"] = expiresAt.ToUnixTimeSeconds(),
        };
        if (pod is { } p)
        {
            payload["kubernetes.io"] = new JsonObject
            {
                ["namespace"] = p.Namespace,
                ["pod"] = new JsonObject { ["name"] = p.PodName, ["uid"] = Guid.NewGuid().ToString() },
            };
        }

        return $"{Base64Url("""{"alg":"none","typ":"JWT"}""")}.{Base64Url(payload.ToJsonString())}.";
    }

    internal static JsonElement? TryReadPayload(string token)
    {
        var parts = token.Split('.');
        if (parts.Length != 3)
        {
            return null;
        }

        try
        {
            var padded = parts[1].Replace('-', '+').Replace('_', '/');
            padded += new string('=', (4 - (padded.Length % 4)) % 4);
            using var document = JsonDocument.Parse(Convert.FromBase64String(padded));
            return document.RootElement.Clone();
        }
        catch (Exception ex) when (ex is FormatException or JsonException)
        {
            return null;
        }
    }

    private static string Base64Url(string json) =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes(json)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
