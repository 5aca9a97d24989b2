using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace Waypoint.TestKit.Http;

/// <summary>
/// A loopback HTTP/1.1 + h2c echo server. It answers with JSON describing the request it saw
/// (<see cref="EchoResponse"/>) and counts requests, so tests can assert what a backend received.
/// Knobs (request headers): <c>x-echo-status</c> sets the status code, <c>x-echo-delay-ms</c> delays the answer.
/// Retry knobs count attempts per <c>x-request-id</c> (Envoy keeps it across retries): <c>x-echo-fail-first: N</c>
/// answers the first N attempts with <c>x-echo-fail-status</c> (default 503); <c>x-echo-delay-first: N</c> applies
/// <c>x-echo-delay-ms</c> to the first N attempts only.
/// </summary>
public sealed class EchoBackend : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> _attempts = new(StringComparer.Ordinal);
    private int _requestCount;

    private EchoBackend(WebApplication app, string name, IPEndPoint endPoint)
    {
        _app = app;
        Name = name;
        EndPoint = endPoint;
    }

    public string Name { get; }

    public IPEndPoint EndPoint { get; }

    public int RequestCount => Volatile.Read(ref _requestCount);

    public static async Task<EchoBackend> StartAsync(string name, IPAddress? address = null, int port = 0, CancellationToken cancellationToken = default)
    {
        address ??= IPAddress.Loopback;
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(address, port, o => o.Protocols = HttpProtocols.Http1AndHttp2));
        var app = builder.Build();
        EchoBackend? self = null;
        app.Run(async context =>
        {
            Interlocked.Increment(ref self!._requestCount);
            var request = context.Request;
            var attempt = 0;
            if (request.Headers.ContainsKey("x-echo-fail-first") || request.Headers.ContainsKey("x-echo-delay-first"))
            {
                attempt = self._attempts.AddOrUpdate(request.Headers["x-request-id"].ToString(), 1, (_, n) => n + 1);
            }

            var delayAttempts = request.Headers.TryGetValue("x-echo-delay-first", out var delayFirst) && int.TryParse(delayFirst, out var df) ? df : int.MaxValue;
            if (request.Headers.TryGetValue("x-echo-delay-ms", out var delay) && int.TryParse(delay, out var ms) && (attempt == 0 || attempt <= delayAttempts))
            {
                try
                {
                    await Task.Delay(ms, context.RequestAborted).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
                {
                    return; // the proxy gave up on this attempt (per-try timeout)
                }
            }

            if (request.Headers.TryGetValue("x-echo-status", out var status) && int.TryParse(status, out var code))
            {
                context.Response.StatusCode = code;
            }

            if (request.Headers.TryGetValue("x-echo-fail-first", out var failFirst) && int.TryParse(failFirst, out var failures) && attempt <= failures)
            {
                context.Response.StatusCode = request.Headers.TryGetValue("x-echo-fail-status", out var failStatus) && int.TryParse(failStatus, out var fs) ? fs : 503;
            }

            string body;
            using (var reader = new StreamReader(request.Body))
            {
                body = await reader.ReadToEndAsync(context.RequestAborted).ConfigureAwait(false);
            }

            var echo = new EchoResponse
            {
                Backend = name,
                Method = request.Method,
                Path = request.Path.Value ?? string.Empty,
                Query = request.QueryString.Value ?? string.Empty,
                Host = request.Host.Value ?? string.Empty,
                Protocol = request.Protocol,
                Headers = request.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value.ToString(), StringComparer.Ordinal),
                Body = body,
                Attempt = attempt,
            };
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(JsonSerializer.Serialize(echo, EchoResponse.JsonOptions), context.RequestAborted).ConfigureAwait(false);
        });
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        var bound = app.Urls.Select(u => new Uri(u)).First();
        self = new EchoBackend(app, name, new IPEndPoint(address, bound.Port));
        return self;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}

/// <summary>What an <see cref="EchoBackend"/> saw.</summary>
public sealed record EchoResponse
{
    public static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web);

    public string Backend { get; init; } = string.Empty;

    public string Method { get; init; } = string.Empty;

    public string Path { get; init; } = string.Empty;

    public string Query { get; init; } = string.Empty;

    public string Host { get; init; } = string.Empty;

    public string Protocol { get; init; } = string.Empty;

    public IReadOnlyDictionary<string, string> Headers { get; init; } = new Dictionary<string, string>();

    /// <summary>The request body as text.</summary>
    public string Body { get; init; } = string.Empty;

    /// <summary>This request's attempt number for its x-request-id when a retry knob is set, else 0.</summary>
    public int Attempt { get; init; }

    public static EchoResponse Parse(string json) =>
        JsonSerializer.Deserialize<EchoResponse>(json, JsonOptions) ?? throw new JsonException("empty echo response");
}
