using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Waypoint.Node.Cri;
using Waypoint.Node.Networking;
using Waypoint.Node.Runtime;
using Waypoint.Node.Streaming;

namespace Waypoint.Node;

/// <summary>
/// The node's container runtime: <c>runtime.v1.RuntimeService</c> and <c>runtime.v1.ImageService</c> on a unix socket
/// (gRPC over HTTP/2 without TLS, as the kubelet dials it). Must run inside the box's network namespace (it creates
/// pod namespaces, veths and routes there) and a private mount namespace. Disposing it stops every container and
/// removes every pod network.
/// </summary>
public sealed class CriServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ProcessRuntime _runtime;
    private readonly ExecStreamServer _streams;

    private CriServer(WebApplication app, ProcessRuntime runtime, ExecStreamServer streams, CriServerOptions options)
    {
        _app = app;
        _runtime = runtime;
        _streams = streams;
        Options = options;
    }

    public CriServerOptions Options { get; }

    /// <summary>The endpoint to give the kubelet: <c>unix:///path/to/socket</c>.</summary>
    public string Endpoint => "unix://" + Options.SocketPath;

    public static async Task<CriServer> StartAsync(CriServerOptions options, ILoggerFactory loggerFactory, TimeProvider? time = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        var problems = options.Validate().ToList();
        if (problems.Count > 0)
        {
            throw new ArgumentException(string.Join(" ", problems), nameof(options));
        }

        time ??= TimeProvider.System;
        Directory.CreateDirectory(options.RootDirectory);
        Directory.CreateDirectory(Path.GetDirectoryName(options.SocketPath)!);
        if (File.Exists(options.SocketPath))
        {
            File.Delete(options.SocketPath);
        }

        PodNetwork.EnableForwarding();
        var runtime = new ProcessRuntime(options, time, loggerFactory.CreateLogger<ProcessRuntime>());
        ExecStreamServer streams;
        try
        {
            streams = await ExecStreamServer.StartAsync(runtime, time, loggerFactory, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await runtime.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(loggerFactory);
        builder.Services.AddSingleton(runtime);
        builder.Services.AddSingleton(streams);
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(time);
        builder.Services.AddGrpc(o => o.MaxReceiveMessageSize = 16 * 1024 * 1024);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.ListenUnixSocket(options.SocketPath, listen => listen.Protocols = HttpProtocols.Http2);
        });
        var app = builder.Build();
        app.MapGrpcService<CriRuntimeService>();
        app.MapGrpcService<CriImageService>();
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await app.DisposeAsync().ConfigureAwait(false);
            await streams.DisposeAsync().ConfigureAwait(false);
            await runtime.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return new CriServer(app, runtime, streams, options);
    }

    /// <summary>
    /// The network namespace of every running pod (not host-network): for node agents such as the ztunnel, which bind
    /// listeners and add routes inside them. The files live in the box's private mount namespace.
    /// </summary>
    public IReadOnlyList<PodNetworkNamespace> PodNetworkNamespaces() => _runtime.PodNetworkNamespaces();

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(CancellationToken.None).ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
        await _streams.DisposeAsync().ConfigureAwait(false);
        await _runtime.DisposeAsync().ConfigureAwait(false);
        if (File.Exists(Options.SocketPath))
        {
            File.Delete(Options.SocketPath);
        }
    }
}
