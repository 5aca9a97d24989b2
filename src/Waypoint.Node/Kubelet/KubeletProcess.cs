using System.Diagnostics;
using System.Net.Http.Json;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Waypoint.Node.Containers;

namespace Waypoint.Node.Kubelet;

/// <summary>Thrown when the kubelet cannot start, exits, or its Node does not become Ready.</summary>
public sealed class KubeletException(string message) : Exception(message);

/// <summary>
/// The real kubelet, started against this node's CRI runtime: writes its KubeletConfiguration and kubeconfig,
/// starts it (output in <see cref="LogPath"/>), and tells when its Node is Ready. It must run in the box's private
/// mount namespace (the kubelet mounts tmpfs and bind mounts under its root dir, and the CRI runtime's containers
/// must see them): starting refuses a shared root mount. Stopping sends SIGTERM (SIGKILL after a grace period) and
/// unmounts whatever the kubelet left mounted under its root.
/// </summary>
public sealed partial class KubeletProcess : IAsyncDisposable
{
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(15);

    // The Node turns Ready within a second or two of the kubelet's start: a coarse poll would be most of the wait.
    private static readonly TimeSpan ReadyPoll = TimeSpan.FromMilliseconds(100);
    private readonly Process _process;
    private readonly StreamWriter _log;
    private readonly Task _pumps;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly bool _mountedVarLog;

    private KubeletProcess(KubeletOptions options, Process process, StreamWriter log, bool mountedVarLog, ILogger logger, TimeProvider time)
    {
        Options = options;
        _process = process;
        _log = log;
        _mountedVarLog = mountedVarLog;
        _logger = logger;
        _time = time;
        _pumps = Task.WhenAll(PumpAsync(process.StandardOutput), PumpAsync(process.StandardError));
    }

    public KubeletOptions Options { get; }

    /// <summary>The kubelet's output (its klog lines).</summary>
    public string LogPath => Path.Combine(Options.RootDirectory, "kubelet.log");

    public int ProcessId => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>The kubelet's exit code once it has exited.</summary>
    public int? ExitCode => _process.HasExited ? _process.ExitCode : null;

    /// <summary>Completes when the kubelet process exits (e.g. a crash while the box runs).</summary>
    public Task WaitForExitAsync(CancellationToken cancellationToken) => _process.WaitForExitAsync(cancellationToken);

    public static async Task<KubeletProcess> StartAsync(KubeletOptions options, ILoggerFactory loggerFactory, TimeProvider? time = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        var problems = options.Validate().ToList();
        if (problems.Count > 0)
        {
            throw new ArgumentException(string.Join(" ", problems), nameof(options));
        }

        if (RootMountIsShared())
        {
            throw new KubeletException(
                "The kubelet must run in a private mount namespace (e.g. under `unshare --mount`): here the root mount is shared, " +
                "so the tmpfs and bind mounts it makes under its root dir would appear on the host.");
        }

        var logger = loggerFactory.CreateLogger<KubeletProcess>();
        Directory.CreateDirectory(options.RootDirectory);
        var configPath = Path.Combine(options.RootDirectory, "kubelet-config.yaml");
        var kubeconfigPath = Path.Combine(options.RootDirectory, "kubelet.kubeconfig");
        await File.WriteAllTextAsync(configPath, KubeletFiles.Configuration(options), cancellationToken).ConfigureAwait(false);
        await File.WriteAllTextAsync(kubeconfigPath, KubeletFiles.Kubeconfig(options), cancellationToken).ConfigureAwait(false);

        var mountedVarLog = false;
        if (options.IsolateVarLog && Directory.Exists("/var/log"))
        {
            await CommandRunner.RunAsync(CommandRunner.Locate("mount"), ["-t", "tmpfs", "-o", "mode=755", "waypoint-node-logs", "/var/log"], cancellationToken).ConfigureAwait(false);
            mountedVarLog = true;
        }

        var start = new ProcessStartInfo(options.KubeletPath)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in KubeletFiles.Arguments(options, configPath, kubeconfigPath))
        {
            start.ArgumentList.Add(argument);
        }

        // In-cluster variables of the box's own process must not leak into the kubelet.
        start.Environment.Remove("KUBERNETES_SERVICE_HOST");
        start.Environment.Remove("KUBERNETES_SERVICE_PORT");
        var log = new StreamWriter(new FileStream(Path.Combine(options.RootDirectory, "kubelet.log"), FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true };
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new KubeletException($"Could not start {options.KubeletPath}.");
        }
        catch
        {
            await log.DisposeAsync().ConfigureAwait(false);
            if (mountedVarLog)
            {
                await UnmountAsync("/var/log").ConfigureAwait(false);
            }

            throw;
        }

        process.StandardInput.Close();
        LogStarted(logger, options.NodeName, process.Id, options.RuntimeEndpoint);
        return new KubeletProcess(options, process, log, mountedVarLog, logger, time ?? TimeProvider.System);
    }

    /// <summary>
    /// Completes once the API server reports this kubelet's Node with condition <c>Ready=True</c> (asked with the
    /// kubelet's own client certificate); fails if the kubelet exits first.
    /// </summary>
    public async Task WaitForNodeReadyAsync(CancellationToken cancellationToken)
    {
        using var client = NodeClient(Options);
        var url = new Uri(Options.ApiServer, $"/api/v1/nodes/{Options.NodeName}");
        while (true)
        {
            if (_process.HasExited)
            {
                throw new KubeletException($"The kubelet exited (code {_process.ExitCode}) before Node {Options.NodeName} was Ready; see {LogPath}.");
            }

            try
            {
                using var response = await client.GetAsync(url, cancellationToken).ConfigureAwait(false);
                if (response.IsSuccessStatusCode)
                {
                    using var node = await response.Content.ReadFromJsonAsync<JsonDocument>(cancellationToken).ConfigureAwait(false);
                    if (IsReady(node))
                    {
                        LogNodeReady(_logger, Options.NodeName);
                        return;
                    }
                }
            }
            catch (HttpRequestException)
            {
                // The API server is not answering yet.
            }

            await Task.Delay(ReadyPoll, _time, cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            Posix.Signal(_process.Id, Posix.SigTerm);
            try
            {
                await _process.WaitForExitAsync().WaitAsync(StopGrace, _time).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync().ConfigureAwait(false);
            }
        }

        try
        {
            await _pumps.WaitAsync(TimeSpan.FromSeconds(5), _time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // Pipes held elsewhere; the log is complete enough.
        }

        await _log.DisposeAsync().ConfigureAwait(false);
        _process.Dispose();

        // The kubelet leaves its volume mounts (tmpfs for secrets and tokens) behind when it stops.
        foreach (var mountPoint in MountPointsUnder(Options.RootDirectory))
        {
            await UnmountAsync(mountPoint).ConfigureAwait(false);
        }

        if (_mountedVarLog)
        {
            await UnmountAsync("/var/log").ConfigureAwait(false);
        }

        LogStopped(_logger, Options.NodeName);
    }

    internal static bool IsReady(JsonDocument? node) =>
        node is not null
        && node.RootElement.TryGetProperty("status", out var status)
        && status.TryGetProperty("conditions", out var conditions)
        && conditions.EnumerateArray().Any(c =>
            c.TryGetProperty("type", out var type) && type.GetString() == "Ready"
            && c.TryGetProperty("status", out var value) && value.GetString() == "True");

    /// <summary>Mount points at or below <paramref name="directory"/> in this mount namespace, deepest first.</summary>
    internal static IReadOnlyList<string> MountPointsUnder(string directory)
    {
        var root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory));
        return [.. File.ReadAllLines("/proc/self/mountinfo")
            .Select(line => Unescape(line.Split(' ')[4]))
            .Where(point => point == root || point.StartsWith(root + "/", StringComparison.Ordinal))
            .Distinct(StringComparer.Ordinal)
            .OrderByDescending(point => point.Length)];
    }

    /// <summary>True when <c>/</c> propagates mounts to a peer group (the host's namespace, as systemd sets it up).</summary>
    internal static bool RootMountIsShared() =>
        File.ReadAllLines("/proc/self/mountinfo")
            .Select(line => line.Split(" - ")[0].Split(' '))
            .Where(fields => fields.Length > 4 && fields[4] == "/")
            .Any(fields => fields.Skip(6).Any(optional => optional.StartsWith("shared:", StringComparison.Ordinal)));

    private static string Unescape(string field) =>
        field.Replace("\\040", " ", StringComparison.Ordinal).Replace("\\011", "\t", StringComparison.Ordinal).Replace("\\012", "\n", StringComparison.Ordinal).Replace("\\134", "\\", StringComparison.Ordinal);

    private static async Task UnmountAsync(string mountPoint)
    {
        try
        {
            await CommandRunner.RunAsync(CommandRunner.Locate("umount"), ["--lazy", mountPoint], CancellationToken.None).ConfigureAwait(false);
        }
        catch (NodeCommandException)
        {
            // Already unmounted (e.g. a parent went first).
        }
    }

    private static HttpClient NodeClient(KubeletOptions options)
    {
        var ca = X509Certificate2.CreateFromPem(File.ReadAllText(options.CaCertificatePath));
        var handler = new HttpClientHandler();
        handler.ClientCertificates.Add(X509Certificate2.CreateFromPemFile(options.ClientCertificatePath, options.ClientKeyPath));
        handler.ServerCertificateCustomValidationCallback = (_, certificate, chain, _) =>
        {
            if (certificate is null || chain is null)
            {
                return false;
            }

            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(ca);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            return chain.Build(certificate);
        };
        return new HttpClient(handler, disposeHandler: true) { Timeout = TimeSpan.FromSeconds(10) };
    }

    private async Task PumpAsync(StreamReader reader)
    {
        try
        {
            while (await reader.ReadLineAsync().ConfigureAwait(false) is { } line)
            {
                await _log.WriteLineAsync(line).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            // The kubelet went away.
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "kubelet for Node {NodeName} started as process {ProcessId} against {RuntimeEndpoint}.")]
    private static partial void LogStarted(ILogger logger, string nodeName, int processId, string runtimeEndpoint);

    [LoggerMessage(Level = LogLevel.Information, Message = "Node {NodeName} is Ready.")]
    private static partial void LogNodeReady(ILogger logger, string nodeName);

    [LoggerMessage(Level = LogLevel.Information, Message = "kubelet for Node {NodeName} stopped; its mounts are removed.")]
    private static partial void LogStopped(ILogger logger, string nodeName);
}
