using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Waypoint.Node.Runtime;

namespace Waypoint.Node.Streaming;

/// <summary>
/// The runtime's streaming server (what CRI <c>Exec</c> answers with): HTTP/1.1 on the box's loopback, where the
/// kubelet proxies a client's upgraded exec connection. Each exec gets a single-use URL <c>/exec/&lt;token&gt;</c>
/// (32 random bytes) that expires unused after <see cref="TokenLifetime"/>, as the kubelet's own streaming servers do;
/// nothing else is served. WebSocket clients speaking <c>v4.channel.k8s.io</c> or <c>v5.channel.k8s.io</c> are
/// answered; SPDY is not implemented and is refused with a 400 that says so.
/// </summary>
internal sealed class ExecStreamServer : IAsyncDisposable
{
    public static readonly TimeSpan TokenLifetime = TimeSpan.FromMinutes(1);

    private readonly ConcurrentDictionary<string, PendingExec> _pending = new(StringComparer.Ordinal);
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
    public Uri Register(ExecSessionRequest request)
    {
        var now = _time.GetUtcNow();
        foreach (var stale in _pending.Where(p => p.Value.ExpiresAt <= now).Select(p => p.Key).ToList())
        {
            _pending.TryRemove(stale, out _);
        }

        var token = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        _pending[token] = new PendingExec(request, now + TokenLifetime);
        return new Uri(BaseAddress, "exec/" + token);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(CancellationToken.None).ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }

    private async Task HandleAsync(HttpContext context)
    {
        var path = context.Request.Path.Value ?? string.Empty;
        if (!path.StartsWith("/exec/", StringComparison.Ordinal)
            || !_pending.TryRemove(path["/exec/".Length..], out var pending)
            || pending.ExpiresAt <= _time.GetUtcNow())
        {
            await RefuseAsync(context, StatusCodes.Status404NotFound, "No such exec session (unknown, used or expired).").ConfigureAwait(false);
            return;
        }

        var request = pending.Request;
        if (!context.WebSockets.IsWebSocketRequest)
        {
            var upgrade = context.Request.Headers.Upgrade.ToString();
            StreamingLog.ExecProtocolRefused(_logger, request.ContainerId[..Math.Min(12, request.ContainerId.Length)], upgrade.Length == 0 ? "(no upgrade)" : upgrade);
            await RefuseAsync(context, StatusCodes.Status400BadRequest,
                $"waypoint-node's streaming server speaks only WebSocket ({string.Join(", ", RemoteCommandProtocol.Supported)}); this request asked for '{upgrade}' (SPDY is not implemented).").ConfigureAwait(false);
            return;
        }

        var protocol = RemoteCommandProtocol.Negotiate(context.WebSockets.WebSocketRequestedProtocols);
        if (protocol is null)
        {
            var offered = string.Join(", ", context.WebSockets.WebSocketRequestedProtocols);
            StreamingLog.ExecProtocolRefused(_logger, request.ContainerId[..Math.Min(12, request.ContainerId.Length)], offered);
            await RefuseAsync(context, StatusCodes.Status400BadRequest,
                $"None of the offered WebSocket protocols ({offered}) is supported; use one of {string.Join(", ", RemoteCommandProtocol.Supported)}.").ConfigureAwait(false);
            return;
        }

        System.Diagnostics.ProcessStartInfo start;
        try
        {
            start = _runtime.ExecStartInfo(request.ContainerId, request.Command);
        }
        catch (Grpc.Core.RpcException ex)
        {
            await RefuseAsync(context, StatusCodes.Status400BadRequest, ex.Status.Detail).ConfigureAwait(false);
            return;
        }

        using var socket = await context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext { SubProtocol = protocol }).ConfigureAwait(false);
        StreamingLog.ExecStarted(_logger, request.ContainerId[..Math.Min(12, request.ContainerId.Length)], request.Command, protocol);
        using var session = new RemoteCommandSession(socket, protocol, request, _logger);
        await session.RunAsync(start, context.RequestAborted).ConfigureAwait(false);
    }

    private static async Task RefuseAsync(HttpContext context, int status, string message)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain; charset=utf-8";
        await context.Response.WriteAsync(message, context.RequestAborted).ConfigureAwait(false);
    }

    private sealed record PendingExec(ExecSessionRequest Request, DateTimeOffset ExpiresAt);
}
