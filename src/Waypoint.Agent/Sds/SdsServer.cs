using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Waypoint.Agent.Sds;

/// <summary>
/// Serves SDS to Envoy on a Unix socket only (never TCP: responses carry the private key). It runs its own small
/// Kestrel host so the SDS endpoint is independent of whatever else the process serves. The socket's directory is
/// restricted to the owner (0700) and the socket to 0600: Envoy must run as the agent's user (Istio's 1337).
/// </summary>
public sealed class SdsServer : IHostedService, IAsyncDisposable
{
    private readonly AgentOptions _options;
    private readonly WorkloadCertificateManager _manager;
    private readonly AgentMetrics _metrics;
    private readonly TimeProvider _timeProvider;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private WebApplication? _app;

    public SdsServer(IOptions<AgentOptions> options, WorkloadCertificateManager manager, AgentMetrics metrics, TimeProvider timeProvider, ILoggerFactory loggerFactory)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(manager);
        ArgumentNullException.ThrowIfNull(metrics);
        ArgumentNullException.ThrowIfNull(timeProvider);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        _options = options.Value;
        _manager = manager;
        _metrics = metrics;
        _timeProvider = timeProvider;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger<SdsServer>();
    }

    public string SocketPath => _options.SocketPath;

    /// <summary>True once the socket accepts connections.</summary>
    public bool IsListening => _app is not null;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var socketPath = Path.GetFullPath(_options.SocketPath);
        var directory = Path.GetDirectoryName(socketPath)!;
        Directory.CreateDirectory(directory);
        Restrict(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

        // A socket left by a previous run would make bind fail.
        if (File.Exists(socketPath))
        {
            File.Delete(socketPath);
        }

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.Replace(ServiceDescriptor.Singleton(_loggerFactory));
        builder.Services.AddSingleton(_manager);
        builder.Services.AddSingleton(_metrics);
        builder.Services.AddSingleton(_timeProvider);
        builder.Services.AddGrpc(o => o.EnableDetailedErrors = false);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.ListenUnixSocket(socketPath, l => l.Protocols = HttpProtocols.Http2);
        });
        var app = builder.Build();
        app.MapGrpcService<SdsService>();
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        Restrict(socketPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        _app = app;
        AgentLog.SdsListening(_logger, socketPath);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        var app = Interlocked.Exchange(ref _app, null);
        if (app is null)
        {
            return;
        }

        await app.StopAsync(cancellationToken).ConfigureAwait(false);
        await app.DisposeAsync().ConfigureAwait(false);
        try
        {
            File.Delete(Path.GetFullPath(_options.SocketPath));
        }
        catch (IOException)
        {
            // Gone already.
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync(CancellationToken.None).ConfigureAwait(false);

    private void Restrict(string path, UnixFileMode mode)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        try
        {
            File.SetUnixFileMode(path, mode);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            AgentLog.SdsPermissionsFailed(_logger, path, ex.Message);
        }
    }
}
