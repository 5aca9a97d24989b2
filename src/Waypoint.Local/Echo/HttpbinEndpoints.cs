using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace Waypoint.Local.Echo;

/// <summary>
/// The go-httpbin endpoints the ambient e2e suite calls, so the node can run <c>ghcr.io/mccutchen/go-httpbin</c>
/// as the echo app (<c>waypoint echo --httpbin</c>): <c>/headers</c> (the request headers as JSON, canonical names,
/// each a list of values), <c>/status/&lt;code&gt;</c>, <c>/delay/&lt;seconds&gt;</c> (at most 10, as httpbin caps it)
/// and <c>/unstable?failure_rate=&lt;0..1&gt;</c> (500 with that probability, default 0.5). Other paths are left to
/// the echo.
/// </summary>
public sealed class HttpbinEndpoints(Random random)
{
    private const double MaxDelaySeconds = 10;

    /// <summary>Answers an httpbin path; false when the path is not one of them.</summary>
    public async Task<bool> TryHandleAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var path = context.Request.Path.Value ?? string.Empty;
        if (path == "/headers")
        {
            await WriteJsonAsync(context, StatusCodes.Status200OK, new JsonObject { ["headers"] = Headers(context.Request) }).ConfigureAwait(false);
            return true;
        }

        if (path.StartsWith("/status/", StringComparison.Ordinal))
        {
            if (!int.TryParse(path["/status/".Length..], NumberStyles.None, CultureInfo.InvariantCulture, out var code) || code is < 100 or > 599)
            {
                await WriteErrorAsync(context, $"invalid status code '{path["/status/".Length..]}'").ConfigureAwait(false);
                return true;
            }

            context.Response.StatusCode = code;
            return true;
        }

        if (path.StartsWith("/delay/", StringComparison.Ordinal))
        {
            if (!double.TryParse(path["/delay/".Length..], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var seconds))
            {
                await WriteErrorAsync(context, $"invalid delay '{path["/delay/".Length..]}'").ConfigureAwait(false);
                return true;
            }

            try
            {
                await Task.Delay(TimeSpan.FromSeconds(Math.Min(seconds, MaxDelaySeconds)), context.RequestAborted).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return true; // The caller gave up (a route timeout): nobody reads an answer.
            }

            await WriteJsonAsync(context, StatusCodes.Status200OK, Describe(context.Request)).ConfigureAwait(false);
            return true;
        }

        if (path == "/unstable")
        {
            var rate = 0.5;
            if (context.Request.Query.TryGetValue("failure_rate", out var given)
                && (!double.TryParse(given.ToString(), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out rate) || rate is < 0 or > 1))
            {
                await WriteErrorAsync(context, $"invalid failure_rate '{given}': a number from 0 to 1").ConfigureAwait(false);
                return true;
            }

            var failed = random.NextDouble() < rate;
            await WriteJsonAsync(context, failed ? StatusCodes.Status500InternalServerError : StatusCodes.Status200OK, Describe(context.Request)).ConfigureAwait(false);
            return true;
        }

        return false;
    }

    /// <summary>Go's canonical header name (<c>x-request-id</c> → <c>X-Request-Id</c>), which go-httpbin shows.</summary>
    public static string CanonicalName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var chars = name.ToLowerInvariant().ToCharArray();
        var upper = true;
        for (var i = 0; i < chars.Length; i++)
        {
            if (upper)
            {
                chars[i] = char.ToUpperInvariant(chars[i]);
            }

            upper = chars[i] == '-';
        }

        return new string(chars);
    }

    private static JsonObject Headers(HttpRequest request)
    {
        var headers = new JsonObject();
        foreach (var (name, values) in request.Headers.OrderBy(h => h.Key, StringComparer.OrdinalIgnoreCase))
        {
            headers[CanonicalName(name)] = new JsonArray([.. values.Select(v => JsonValue.Create(v ?? string.Empty))]);
        }

        return headers;
    }

    private static JsonObject Describe(HttpRequest request) => new()
    {
        ["method"] = request.Method,
        ["url"] = $"{request.Scheme}://{request.Host}{request.Path}{request.QueryString}",
        ["headers"] = Headers(request),
    };

    private static Task WriteErrorAsync(HttpContext context, string message) =>
        WriteJsonAsync(context, StatusCodes.Status400BadRequest, new JsonObject { ["status_code"] = 400, ["error"] = message });

    private static async Task WriteJsonAsync(HttpContext context, int status, JsonObject body)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json; charset=utf-8";
        await context.Response.WriteAsync(body.ToJsonString(), context.RequestAborted).ConfigureAwait(false);
    }
}
