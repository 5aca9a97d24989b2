using System.Text.Json.Nodes;

namespace Waypoint.TestKit.Kubernetes;

/// <summary>An HTTP status and JSON body, as the API server answers.</summary>
public sealed record FakeApiResult(int StatusCode, JsonNode Body)
{
    public bool IsSuccess => StatusCode is >= 200 and < 300;

    public static FakeApiResult Ok(JsonNode body) => new(200, body);

    public static FakeApiResult Created(JsonNode body) => new(201, body);

    public static FakeApiResult Status(int code, string reason, string message) => new(code, StatusBody(code, reason, message));

    public static JsonObject StatusBody(int code, string reason, string message) => new()
    {
        ["kind"] = "Status",
        ["apiVersion"] = "v1",
        ["metadata"] = new JsonObject(),
        ["status"] = "Failure",
        ["message"] = message,
        ["reason"] = reason,
        ["code"] = code,
    };
}
