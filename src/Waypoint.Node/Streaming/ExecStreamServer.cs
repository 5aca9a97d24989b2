using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Waypoint.Node.Runtime;

namespace Waypoint.Node.Streaming;

/// <summary>
/// The runtime's streaming server (what CRI <c>Exec</c> and <c>PortForward</c> answer with): HTTP/1.1 on the box's
/// loopback, where the kubelet proxies a client's upgraded connection. Each exec or port-forward gets a single-use URL
/// <c>/exec/&lt;token&gt;</c> or <c>/portforward/&lt;token&gt;</c> (32 random bytes) that expires unused after
/// <see cref="TokenLifetime"/>, as the kubelet's own streaming servers do; nothing else is served. WebSocket clients
/// speaking <c>v4.channel.k8s.io</c> or <c>v5.channel.k8s.io</c> (exec; <see cref="RemoteCommandProtocol"/>) and
/// <c>v4.channel.k8s.io</c> or <c>v4.base64.channel.k8s.io</c> (port-forward; <see cref="PortForwardProtocol"/>) are
/// answered, and so are SPDY/3.1 upgrades (what the kubelet sends for <c>kubectl exec</c> and <c>kubectl
/// port-forward</c>): <c>X-Stream-Protocol-Version</c> <c>v5.channel.k8s.io</c>/<c>v4.channel.k8s.io</c> for exec
/// (<see cref="SpdyRemoteCommandSession"/>), <c>portforward.k8s.io</c> (or none) for port-forward
/// (<see cref="SpdyPortForwardSession"/>).
/// </summary>
internal sealed class ExecStreamServer : IAsyncDisposable
{
    public static readonly TimeSpan TokenLifetime = TimeSpan.FromMinutes(1);

    private readonly ConcurrentDictionary<string, PendingSession> _pending = new(StringComparer.Ordinal);
    private readonly ProcessRuntime _runtime;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly WebApplication _app;

    private ExecStreamServer(ProcessRuntime runtime, TimeProvider time, ILogger logger, WebApplication app, Uri baseAddress)
    {
        _runtime = runtime;
        _time = time;
        _logger = logger;
        _app = app;
        BaseAddress = baseAddress;
    }

    /// <summary>Where the server listens: <c>http://127.0.0.1:&lt;port&gt;/</c>.</summary>
    public Uri BaseAddress { get; }

    public static async Task<ExecStreamServer> StartAsync(ProcessRuntime runtime, TimeProvider time, ILoggerFactory loggerFactory, CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http1);
        });
        var app = builder.Build();
        app.UseWebSockets();
        ExecStreamServer? server = null;
        app.Run(context => server!.HandleAsync(context));
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        server = new ExecStreamServer(runtime, time, loggerFactory.CreateLogger<ExecStreamServer>(), app, new Uri(address.TrimEnd('/') + "/"));
        return server;
    }

    /// <summary>Registers an exec and returns its single-use URL.</summary>
    public Uri Register(ExecSessionRequest request) => Register("exec/", request);

    /// <summary>Registers a port-forward and returns its single-use URL.</summary>
    public Uri Register(PortForwardSessionRequest request) => Register("portforward/", request);

    private Uri Register(string kind, object request)
    {
        var now = _time.GetUtcNow();
        foreach (var stale in _pending.Where(p => p.Value.ExpiresAt <= now).Select(p => p.Key).ToList())
        {
            _pending.TryRemove(stale, out _);
        }

        var token = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        _pending[kind + token] = new PendingSession(request, now + TokenLifetime);
        return new Uri(BaseAddress, kind + token);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(CancellationToken.None).ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }

    private async Task HandleAsync(HttpContext context)
    {
        var path = context.Request.Path.Value ?? string.Empty;
        if (path.Length <= 1
            || !_pending.TryRemove(path[1..], out var pending)
            || pending.ExpiresAt <= _time.GetUtcNow())
        {
            await RefuseAsync(context, StatusCodes.Status404NotFound, "No such exec or port-forward session (unknown, used or expired).").ConfigureAwait(false);
            return;
        }

        if (pending.Request is PortForwardSessionRequest portForward)
        {
            await HandlePortForwardAsync(context, portForward).ConfigureAwait(false);
            return;
        }

        var request = (ExecSessionRequest)pending.Request;
        var container = StreamingLog.ShortId(request.ContainerId);
        if (IsSpdyUpgrade(context))
        {
            await HandleSpdyExecAsync(context, request).ConfigureAwait(false);
            return;
        }

        var protocol = await NegotiateAsync(context, session: null, RemoteCommandProtocol.Supported, RemoteCommandProtocol.Negotiate,
            refused => StreamingLog.ExecProtocolRefused(_logger, container, refused)).ConfigureAwait(false);
        if (protocol is null)
        {
            return;
        }

        if (await ExecStartInfoOrRefuseAsync(context, request).ConfigureAwait(false) is not { } start)
        {
            return;
        }

        using var socket = await context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext { SubProtocol = protocol }).ConfigureAwait(false);
        StreamingLog.ExecStarted(_logger, container, request.Command, protocol);
        using var session = new RemoteCommandSession(socket, protocol, request, _logger);
        await session.RunAsync(start, context.RequestAborted).ConfigureAwait(false);
    }

    private async Task HandlePortForwardAsync(HttpContext context, PortForwardSessionRequest request)
    {
        var sandbox = StreamingLog.ShortId(request.PodSandboxId);
        if (IsSpdyUpgrade(context))
        {
            await HandleSpdyPortForwardAsync(context, request).ConfigureAwait(false);
            return;
        }

        var protocol = await NegotiateAsync(context, "port-forward", PortForwardProtocol.Supported, PortForwardProtocol.Negotiate,
            refused => StreamingLog.PortForwardProtocolRefused(_logger, sandbox, refused)).ConfigureAwait(false);
        if (protocol is null)
        {
            return;
        }

        // The kubelet's CRI request names the ports; a request without them takes the client's `port` query, as the
        // kubelet's own parsing does.
        if (request.Ports.Count == 0)
        {
            var ports = PortForwardProtocol.ParsePorts(context.Request.Query["port"]);
            if (ports is null or { Count: 0 } || ports.Count > PortForwardProtocol.MaxPorts)
            {
                await RefuseAsync(context, StatusCodes.Status400BadRequest, $"The query parameter \"port\" must name 1 to {PortForwardProtocol.MaxPorts} ports (1-65535).").ConfigureAwait(false);
                return;
            }

            request = request with { Ports = ports };
        }

        using var socket = await context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext { SubProtocol = protocol.Length == 0 ? null : protocol }).ConfigureAwait(false);
        StreamingLog.PortForwardStarted(_logger, sandbox, request.Ports, protocol.Length == 0 ? "(no subprotocol)" : protocol);
        using var session = new PortForwardSession(socket, protocol, request, _logger);
        await session.RunAsync(context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>How to start the exec's process in its container; null after answering 400 when the container cannot run it.</summary>
    private async Task<System.Diagnostics.ProcessStartInfo?> ExecStartInfoOrRefuseAsync(HttpContext context, ExecSessionRequest request)
    {
        try
        {
            return _runtime.ExecStartInfo(request.ContainerId, request.Command);
        }
        catch (Grpc.Core.RpcException ex)
        {
            await RefuseAsync(context, StatusCodes.Status400BadRequest, ex.Status.Detail).ConfigureAwait(false);
            return null;
        }
    }

    private async Task HandleSpdyExecAsync(HttpContext context, ExecSessionRequest request)
    {
        var container = StreamingLog.ShortId(request.ContainerId);
        var offered = OfferedStreamProtocols(context);
        var protocol = RemoteCommandProtocol.Negotiate(offered);
        if (protocol is null)
        {
            // Clients without the header (remotecommand v1) are not served.
            await RefuseSpdyAsync(context, offered, RemoteCommandProtocol.Supported, refused => StreamingLog.ExecProtocolRefused(_logger, container, refused)).ConfigureAwait(false);
            return;
        }

        if (await ExecStartInfoOrRefuseAsync(context, request).ConfigureAwait(false) is not { } start)
        {
            return;
        }

        await using var connection = await UpgradeToSpdyAsync(context, protocol).ConfigureAwait(false);
        StreamingLog.SpdyUpgraded(_logger, "Exec", container, protocol);
        var session = new SpdyRemoteCommandSession(connection, protocol, request, _logger);
        await session.RunAsync(start, context.RequestAborted).ConfigureAwait(false);
    }

    private async Task HandleSpdyPortForwardAsync(HttpContext context, PortForwardSessionRequest request)
    {
        var sandbox = StreamingLog.ShortId(request.PodSandboxId);
        var offered = OfferedStreamProtocols(context);
        if (offered.Count > 0 && !offered.Contains(SpdyPortForwardSession.Protocol, StringComparer.Ordinal))
        {
            await RefuseSpdyAsync(context, offered, [SpdyPortForwardSession.Protocol], refused => StreamingLog.PortForwardProtocolRefused(_logger, sandbox, refused)).ConfigureAwait(false);
            return;
        }

        await using var connection = await UpgradeToSpdyAsync(context, offered.Count > 0 ? SpdyPortForwardSession.Protocol : null).ConfigureAwait(false);
        StreamingLog.SpdyUpgraded(_logger, "Port-forward", sandbox, SpdyPortForwardSession.Protocol);
        var session = new SpdyPortForwardSession(connection, request, _time, _logger);
        await session.RunAsync(context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>A SPDY upgrade offering none of <paramref name="supported"/>: refused with the kubelet's status and wording for a failed handshake.</summary>
    private static Task RefuseSpdyAsync(HttpContext context, List<string> offered, IReadOnlyList<string> supported, Action<string> logRefused)
    {
        logRefused("SPDY/3.1 " + string.Join(", ", offered));
        return RefuseAsync(context, StatusCodes.Status403Forbidden,
            $"unable to upgrade: unable to negotiate protocol: client supports [{string.Join(" ", offered)}], server supports [{string.Join(" ", supported)}]");
    }

    /// <summary>A request to switch to SPDY/3.1: <c>Connection: Upgrade</c>, <c>Upgrade: SPDY/3.1</c>.</summary>
    private static bool IsSpdyUpgrade(HttpContext context) =>
        context.Features.Get<IHttpUpgradeFeature>() is { IsUpgradableRequest: true }
        && context.Request.Headers.Upgrade.Any(u => string.Equals(u?.Trim(), "SPDY/3.1", StringComparison.OrdinalIgnoreCase));

    /// <summary>The client's <c>X-Stream-Protocol-Version</c> values, in its order (each header may be a comma-separated list).</summary>
    private static List<string> OfferedStreamProtocols(HttpContext context) =>
        [.. context.Request.Headers[StreamProtocolHeader].SelectMany(v => (v ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))];

    /// <summary>101 Switching Protocols to SPDY/3.1, naming the chosen stream protocol; the raw connection from then on.</summary>
    private async Task<SpdyConnection> UpgradeToSpdyAsync(HttpContext context, string? protocol)
    {
        context.Response.Headers.Upgrade = "SPDY/3.1";
        if (protocol is not null)
        {
            context.Response.Headers[StreamProtocolHeader] = protocol;
        }

        var transport = await context.Features.Get<IHttpUpgradeFeature>()!.UpgradeAsync().ConfigureAwait(false);
        return new SpdyConnection(transport, _logger);
    }

    private const string StreamProtocolHeader = "X-Stream-Protocol-Version";

    /// <summary>
    /// The WebSocket subprotocol to accept a <paramref name="session"/> (null: exec) with, or null once the request was
    /// refused with a 400 that says why: not a WebSocket upgrade (SPDY), or none of <paramref name="supported"/> offered.
    /// </summary>
    private static async Task<string?> NegotiateAsync(HttpContext context, string? session, IReadOnlyList<string> supported, Func<IEnumerable<string>, string?> negotiate, Action<string> logRefused)
    {
        var ours = string.Join(", ", supported);
        if (!context.WebSockets.IsWebSocketRequest)
        {
            var upgrade = context.Request.Headers.Upgrade.ToString();
            logRefused(upgrade.Length == 0 ? "(no upgrade)" : upgrade);
            await RefuseAsync(context, StatusCodes.Status400BadRequest,
                $"waypoint-node's streaming server speaks only WebSocket{(session is null ? "" : " " + session)} ({ours}); this request asked for '{upgrade}' (besides WebSocket, only SPDY/3.1 upgrades are served).").ConfigureAwait(false);
            return null;
        }

        var protocol = negotiate(context.WebSockets.WebSocketRequestedProtocols);
        if (protocol is null)
        {
            var offered = string.Join(", ", context.WebSockets.WebSocketRequestedProtocols);
            logRefused(offered);
            await RefuseAsync(context, StatusCodes.Status400BadRequest,
                $"None of the offered WebSocket protocols ({offered}) is supported{(session is null ? "" : " for " + session)}; use one of {ours}.").ConfigureAwait(false);
        }

        return protocol;
    }

    private static async Task RefuseAsync(HttpContext context, int status, string message)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain; charset=utf-8";
        await context.Response.WriteAsync(message, context.RequestAborted).ConfigureAwait(false);
    }

    private sealed record PendingSession(object Request, DateTimeOffset ExpiresAt);
}
