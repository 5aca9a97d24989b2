using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace Waypoint.Telemetry.Prometheus;

/// <summary>
/// One scrape, two sources: Envoy's text first, then what the exporter writes. The exporter's output is buffered
/// (it sets its headers and length itself) and appended after Envoy's.
/// </summary>
internal static class MergedPrometheusResponse
{
    public static async Task WriteAsync(HttpContext context, RequestDelegate next, Func<CancellationToken, Task<string?>>? envoyStats)
    {
        // Envoy speaks the classic text format (0.0.4); an OpenMetrics answer from the exporter would not mix with it.
        context.Request.Headers[HeaderNames.Accept] = "text/plain";
        var envoy = envoyStats is null ? null : await envoyStats(context.RequestAborted).ConfigureAwait(false);

        var body = context.Response.Body;
        using var exported = new MemoryStream();
        context.Response.Body = exported;
        try
        {
            await next(context).ConfigureAwait(false);
        }
        finally
        {
            context.Response.Body = body;
        }

        context.Response.ContentLength = null;
        if (context.Response.StatusCode != StatusCodes.Status200OK)
        {
            exported.Position = 0;
            await exported.CopyToAsync(body, context.RequestAborted).ConfigureAwait(false);
            return;
        }

        if (!string.IsNullOrEmpty(envoy))
        {
            await context.Response.WriteAsync(envoy, context.RequestAborted).ConfigureAwait(false);
            if (envoy[^1] != '\n')
            {
                await context.Response.WriteAsync("\n", context.RequestAborted).ConfigureAwait(false);
            }
        }

        exported.Position = 0;
        await exported.CopyToAsync(body, context.RequestAborted).ConfigureAwait(false);
    }
}
