using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Primitives;

namespace Waypoint.Local.Echo;

/// <summary>The echo app of one pod: which address and ports it serves.</summary>
public sealed record EchoAppOptions
{
    public required string Pod { get; init; }

    public required string Namespace { get; init; }

    public required IPAddress Address { get; init; }

    /// <summary>Ports answered with the HTTP echo.</summary>
    public IReadOnlyList<int> HttpPorts { get; init; } = [];

    /// <summary>Ports answered with the line-oriented TCP echo.</summary>
    public IReadOnlyList<int> TcpPorts { get; init; } = [];

    /// <summary>Also answer go-httpbin's endpoints (<see cref="HttpbinEndpoints"/>); other paths keep the echo.</summary>
    public bool Httpbin { get; init; }
}

/// <summary>
/// The app inside a local pod: an HTTP echo that answers with JSON describing the request (<see cref="EchoReply"/>),
/// and a raw TCP echo for TCP services.
/// </summary>
/// <remarks>
/// HTTP knobs, each a request header or the query parameter of the same name without <c>x-</c>:
/// <list type="bullet">
/// <item><c>x-echo-delay-ms</c>: answer after this many milliseconds;</item>
/// <item><c>x-echo-status</c>: answer with this status code;</item>
/// <item><c>x-echo-response-header</c>: <c>name: value</c>, added to the response (repeatable);</item>
/// <item><c>x-echo-fail-times</c>: the first N attempts for a key answer <c>x-echo-fail-status</c> (default 503), later ones
/// succeed; the key is <c>x-echo-fail-key</c> or else <c>x-request-id</c> (which Envoy keeps across retries);</item>
/// <item><c>x-echo-slow-times</c>: <c>x-echo-delay-ms</c> applies only to the first N attempts for the key (a slow try, then fast retries).</item>
/// </list>
/// The TCP echo answers each received line with <c>&lt;pod&gt;.&lt;namespace&gt; &lt;line&gt;</c>.
/// </remarks>
public sealed class EchoApp : IAsyncDisposable
{
    private readonly EchoAppOptions _options;
    private readonly EchoRecorder _recorder;
    private readonly List<Socket> _tcpListeners = [];
    private readonly CancellationTokenSource _stopping = new();
    private readonly HttpbinEndpoints? _httpbin;
    private WebApplication? _http;

    private EchoApp(EchoAppOptions options, EchoRecorder recorder)
    {
        _options = options;
        _recorder = recorder;
        _httpbin = options.Httpbin ? new HttpbinEndpoints(Random.Shared) : null;
    }

    public EchoAppOptions Options => _options;

    /// <summary>Binds every port and starts serving; a port that cannot be bound fails with the address named.</summary>
    public static async Task<EchoApp> StartAsync(EchoAppOptions options, EchoRecorder recorder, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(recorder);
        var app = new EchoApp(options, recorder);
        try
        {
            await app.StartHttpAsync(cancellationToken).ConfigureAwait(false);
            app.StartTcp();
            return app;
        }
        catch
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        foreach (var listener in _tcpListeners)
        {
            listener.Dispose();
        }

        if (_http is not null)
        {
            await _http.StopAsync(CancellationToken.None).ConfigureAwait(false);
            await _http.DisposeAsync().ConfigureAwait(false);
        }

        _stopping.Dispose();
    }

    private async Task StartHttpAsync(CancellationToken cancellationToken)
    {
        if (_options.HttpPorts.Count == 0)
        {
            return;
        }

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            foreach (var port in _options.HttpPorts)
            {
                kestrel.Listen(_options.Address, port, listen => listen.Protocols = HttpProtocols.Http1);
            }
        });
        var http = builder.Build();
        http.Run(HandleAsync);
        try
        {
            await http.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (IOException ex)
        {
            await http.DisposeAsync().ConfigureAwait(false);
            throw new InvalidOperationException(
                $"The echo app of pod {_options.Namespace}/{_options.Pod} cannot listen on {_options.Address}:{string.Join(',', _options.HttpPorts)}: {ex.Message}", ex);
        }

        _http = http;
    }

    private async Task HandleAsync(HttpContext context)
    {
        if (_httpbin is not null && await _httpbin.TryHandleAsync(context).ConfigureAwait(false))
        {
            return;
        }

        var request = context.Request;
        var response = context.Response;
        var headers = request.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value.ToString(), StringComparer.Ordinal);

        // Attempts are counted per key (x-echo-fail-key, else x-request-id, which Envoy keeps across retries).
        var failTimesSet = int.TryParse(Knob(request, "x-echo-fail-times"), NumberStyles.None, CultureInfo.InvariantCulture, out var failTimes);
        var slowTimesSet = int.TryParse(Knob(request, "x-echo-slow-times"), NumberStyles.None, CultureInfo.InvariantCulture, out var slowTimes);
        var attempt = 0;
        if (failTimesSet || slowTimesSet)
        {
            var key = Knob(request, "x-echo-fail-key") ?? request.Headers["x-request-id"].ToString();
            attempt = _recorder.NextAttempt($"{key}");
            response.Headers["x-echo-attempt"] = attempt.ToString(CultureInfo.InvariantCulture);
        }

        var delay = Knob(request, "x-echo-delay-ms");
        if (int.TryParse(delay, NumberStyles.None, CultureInfo.InvariantCulture, out var delayMs) && delayMs > 0 && (!slowTimesSet || attempt <= slowTimes))
        {
            try
            {
                await Task.Delay(delayMs, context.RequestAborted).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // The caller gave up (e.g. a route timeout); record what happened anyway.
            }
        }

        var status = int.TryParse(Knob(request, "x-echo-status"), NumberStyles.None, CultureInfo.InvariantCulture, out var code) ? code : 200;
        if (failTimesSet && attempt <= failTimes)
        {
            status = int.TryParse(Knob(request, "x-echo-fail-status"), NumberStyles.None, CultureInfo.InvariantCulture, out var failStatus) ? failStatus : 503;
        }

        foreach (var value in KnobValues(request, "x-echo-response-header"))
        {
            if (value is null)
            {
                continue;
            }

            var colon = value.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0)
            {
                response.Headers.Append(value[..colon].Trim(), value[(colon + 1)..].Trim());
            }
        }

        var reply = new EchoReply
        {
            Pod = _options.Pod,
            Namespace = _options.Namespace,
            Address = $"{_options.Address}:{context.Connection.LocalPort}",
            Method = request.Method,
            Path = request.Path.Value ?? string.Empty,
            Query = request.QueryString.Value ?? string.Empty,
            Host = request.Host.Value ?? string.Empty,
            Protocol = request.Protocol,
            Headers = headers,
            Status = status,
            Attempt = attempt,
            ReceivedAt = DateTimeOffset.UtcNow,
        };
        _recorder.Record(reply);
        if (context.RequestAborted.IsCancellationRequested)
        {
            return;
        }

        response.StatusCode = status;
        response.Headers["x-echo-pod"] = $"{_options.Pod}.{_options.Namespace}";
        response.ContentType = "application/json";
        await response.WriteAsync(JsonSerializer.Serialize(reply, EchoReply.JsonOptions), context.RequestAborted).ConfigureAwait(false);
    }

    private static string? Knob(HttpRequest request, string name)
    {
        var values = KnobValues(request, name);
        return values.Count > 0 ? values[0] : null;
    }

    private static StringValues KnobValues(HttpRequest request, string name) =>
        request.Headers.TryGetValue(name, out var header) ? header
        : request.Query.TryGetValue(name[2..], out var query) ? query
        : StringValues.Empty;

    private void StartTcp()
    {
        foreach (var port in _options.TcpPorts)
        {
            var listener = new Socket(_options.Address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                listener.Bind(new IPEndPoint(_options.Address, port));
                listener.Listen(128);
            }
            catch (SocketException ex)
            {
                listener.Dispose();
                throw new InvalidOperationException(
                    $"The TCP echo of pod {_options.Namespace}/{_options.Pod} cannot listen on {_options.Address}:{port}: {ex.Message}", ex);
            }

            _tcpListeners.Add(listener);
            _ = AcceptLoopAsync(listener, port);
        }
    }

    private async Task AcceptLoopAsync(Socket listener, int port)
    {
        var token = _stopping.Token;
        while (!token.IsCancellationRequested)
        {
            Socket connection;
            try
            {
                connection = await listener.AcceptAsync(token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            _ = ServeTcpAsync(connection, port, token);
        }
    }

    private async Task ServeTcpAsync(Socket connection, int port, CancellationToken cancellationToken)
    {
        var prefix = $"{_options.Pod}.{_options.Namespace} ";
        using (connection)
        {
            await using var stream = new NetworkStream(connection, ownsSocket: false);
            using var reader = new StreamReader(stream, Encoding.UTF8);
            await using var writer = new StreamWriter(stream, new UTF8Encoding(false)) { AutoFlush = true, NewLine = "\n" };
            try
            {
                while (await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
                {
                    _recorder.Record(new EchoReply
                    {
                        Pod = _options.Pod,
                        Namespace = _options.Namespace,
                        Address = $"{_options.Address}:{port}",
                        Protocol = "tcp",
                        Path = line,
                        ReceivedAt = DateTimeOffset.UtcNow,
                    });
                    await writer.WriteLineAsync(prefix + line).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException or SocketException)
            {
                // The peer went away or the rig is stopping.
            }
        }
    }
}
