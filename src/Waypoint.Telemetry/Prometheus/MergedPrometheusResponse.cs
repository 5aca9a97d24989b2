using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;
using Waypoint.Telemetry.RequestMetrics;

namespace Waypoint.Telemetry.Prometheus;

/// <summary>
/// One scrape, three sources: Envoy's text first, then the Istio request series rendered from Envoy's raw request stats
/// (<see cref="IstioRequestSeries"/>, taken out of Envoy's text), then what the exporter writes. The exporter's output is buffered (it sets its headers and
/// length itself) and appended last.
/// </summary>
internal static class MergedPrometheusResponse
{
    public static async Task WriteAsync(HttpContext context, RequestDelegate next, Func<CancellationToken, Task<string?>>? envoyStats)
    {
        // Envoy speaks the classic text format (0.0.4); an OpenMetrics answer from the exporter would not mix with it.
        context.Request.Headers[HeaderNames.Accept] = "text/plain";
        // Nor would a compressed one: Prometheus asks for gzip, and the exporter's gzipped bytes after Envoy's plain
        // text (under the exporter's Content-Encoding: gzip) are what Prometheus failed on ("gzip: invalid header").
        context.Request.Headers.Remove(HeaderNames.AcceptEncoding);
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
            var envoyText = new StringBuilder(envoy.Length);
            var istio = new StringBuilder();
            IstioRequestSeries.Rewrite(envoy, envoyText, istio);
            await context.Response.WriteAsync(envoyText.ToString(), context.RequestAborted).ConfigureAwait(false);
            await context.Response.WriteAsync(istio.ToString(), context.RequestAborted).ConfigureAwait(false);
        }

        exported.Position = 0;
        await exported.CopyToAsync(body, context.RequestAborted).ConfigureAwait(false);
    }
}
