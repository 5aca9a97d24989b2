using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Waypoint.Node.Containers;
using Waypoint.Node.Cri.V1;
using Waypoint.Node.Images;
using Waypoint.Node.Networking;

namespace Waypoint.Node.Runtime;

/// <summary>
/// The state and lifecycle behind the CRI: pod sandboxes (each with its own network namespace, unless host-network)
/// and containers (each a process group in its sandbox's network namespace and a private mount namespace). Lives in
/// memory: a runtime restart starts from nothing, as the box does. Disposing it stops every container and removes
/// every pod network, so no process outlives it.
/// </summary>
internal sealed partial class ProcessRuntime : IAsyncDisposable
{
    private static readonly TimeSpan ShutdownGrace = TimeSpan.FromSeconds(5);
    private readonly CriServerOptions _options;
    private readonly ImageStore _images;
    private readonly PodNetwork _network;
    private readonly PodAddressPool _addresses;
    private readonly NodeTools _tools;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Dictionary<string, SandboxRecord> _sandboxes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ContainerRecord> _containers = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private readonly SemaphoreSlim _sandboxChanges = new(1, 1);

    public ProcessRuntime(CriServerOptions options, TimeProvider time, ILogger<ProcessRuntime> logger)
    {
        _options = options;
        _time = time;
        _logger = logger;
        _images = new ImageStore(options.Images);
        _network = new PodNetwork(Path.Combine(options.RootDirectory, "netns"));
        _addresses = new PodAddressPool(options.FirstPodAddress, options.PodNetwork, options.PodNetworkPrefixLength);
        _tools = NodeTools.Locate();
    }

    public ImageStore Images => _images;

    public static string NewId() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));

    // ---------------- sandboxes ----------------

    public async Task<string> RunPodSandboxAsync(PodSandboxConfig config, string runtimeHandler, CancellationToken cancellationToken)
    {
        if (config?.Metadata is not { } metadata || string.IsNullOrEmpty(metadata.Name) || string.IsNullOrEmpty(metadata.Uid) || string.IsNullOrEmpty(metadata.Namespace))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "The sandbox config needs metadata with name, namespace and uid."));
        }

        var hostNetwork = config.Linux?.SecurityContext?.NamespaceOptions?.Network == NamespaceMode.Node;
        var id = NewId();
        var resolvConf = await WriteResolvConfAsync(id, config.DnsConfig, cancellationToken).ConfigureAwait(false);
        var address = hostNetwork ? _options.NodeAddress : _addresses.Allocate();
        var sandbox = new SandboxRecord
        {
            ResolvConfPath = resolvConf,
            Id = id,
            Config = config,
            CreatedAt = Nanoseconds(_time.GetUtcNow()),
            HostNetwork = hostNetwork,
            Address = address,
            RuntimeHandler = runtimeHandler,
        };
        if (!hostNetwork)
        {
            try
            {
                sandbox.Network = await _network.CreateAsync(id, address, cancellationToken).ConfigureAwait(false);
            }
            catch (NodeCommandException ex)
            {
                _addresses.Release(address);
                LogSandboxNetworkFailed(_logger, metadata.Namespace, metadata.Name, ex.Message);
                throw new RpcException(new Status(StatusCode.Internal, $"Setting up the pod network failed: {ex.Message}"));
            }
        }

        lock (_lock)
        {
            _sandboxes[id] = sandbox;
        }

        LogSandboxStarted(_logger, metadata.Namespace, metadata.Name, id[..12], address, hostNetwork);
        return id;
    }

    public async Task StopPodSandboxAsync(string sandboxId, CancellationToken cancellationToken)
    {
        var sandbox = FindSandbox(sandboxId);
        if (sandbox is null)
        {
            return; // Stopping what is gone is success (CRI: idempotent).
        }

        foreach (var container in ContainersOf(sandboxId))
        {
            if (container.Process is { } process)
            {
                await process.StopAsync(TimeSpan.Zero, cancellationToken).ConfigureAwait(false);
            }
        }

        await _sandboxChanges.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (sandbox.Network is { } network)
            {
                await _network.DeleteAsync(network, CancellationToken.None).ConfigureAwait(false);
                sandbox.Network = null;
                _addresses.Release(sandbox.Address);
            }

            if (sandbox.State == PodSandboxState.SandboxReady)
            {
                sandbox.State = PodSandboxState.SandboxNotready;
                LogSandboxStopped(_logger, sandbox.Config.Metadata.Namespace, sandbox.Config.Metadata.Name, sandboxId[..12]);
            }
        }
        finally
        {
            _sandboxChanges.Release();
        }
    }

    public async Task RemovePodSandboxAsync(string sandboxId, CancellationToken cancellationToken)
    {
        if (FindSandbox(sandboxId) is null)
        {
            return;
        }

        await StopPodSandboxAsync(sandboxId, cancellationToken).ConfigureAwait(false);
        foreach (var container in ContainersOf(sandboxId))
        {
            await RemoveContainerAsync(container.Id, cancellationToken).ConfigureAwait(false);
        }

        lock (_lock)
        {
            _sandboxes.Remove(sandboxId);
        }

        try
        {
            var directory = SandboxDirectory(sandboxId);
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
        catch (IOException)
        {
            // Left for the box's root directory cleanup.
        }
    }

    public PodSandboxStatus SandboxStatus(string sandboxId)
    {
        var sandbox = FindSandbox(sandboxId) ?? throw NotFound("pod sandbox", sandboxId);
        var status = new PodSandboxStatus
        {
            Id = sandbox.Id,
            Metadata = sandbox.Config.Metadata,
            State = sandbox.State,
            CreatedAt = sandbox.CreatedAt,
            Linux = new LinuxPodSandboxStatus
            {
                Namespaces = new Namespace
                {
                    Options = new NamespaceOption
                    {
                        Network = sandbox.HostNetwork ? NamespaceMode.Node : NamespaceMode.Pod,
                        Pid = NamespaceMode.Pod,
                        Ipc = NamespaceMode.Pod,
                    },
                },
            },
            RuntimeHandler = sandbox.RuntimeHandler,
        };
        if (sandbox.State == PodSandboxState.SandboxReady)
        {
            status.Network = new PodSandboxNetworkStatus { Ip = sandbox.Address.ToString() };
        }

        status.Labels.Add(sandbox.Config.Labels);
        status.Annotations.Add(sandbox.Config.Annotations);
        return status;
    }

    /// <summary>
    /// Where a port-forward to a sandbox connects: its network namespace file, or null for a host-network pod (the
    /// node's own). NotFound for an unknown sandbox, FailedPrecondition for one that is not ready.
    /// </summary>
    public string? PortForwardNamespace(string sandboxId)
    {
        var sandbox = FindSandbox(sandboxId) ?? throw NotFound("pod sandbox", sandboxId);
        lock (_lock)
        {
            if (sandbox.State != PodSandboxState.SandboxReady || (!sandbox.HostNetwork && sandbox.Network is null))
            {
                throw new RpcException(new Status(StatusCode.FailedPrecondition, $"Pod sandbox {sandboxId} is not ready."));
            }

            return sandbox.Network?.NamespacePath;
        }
    }

    /// <summary>The network namespace file of a sandbox (null for host network or once stopped).</summary>
    public string? SandboxNetworkNamespace(string sandboxId) => FindSandbox(sandboxId)?.Network?.NamespacePath;

    /// <summary>Every ready sandbox with a network namespace of its own: which pod it is, its IP and namespace file.</summary>
    public IReadOnlyList<PodNetworkNamespace> PodNetworkNamespaces()
    {
        lock (_lock)
        {
            return [.. _sandboxes.Values
                .Where(s => s.State == PodSandboxState.SandboxReady && s.Network is not null)
                .Select(s => new PodNetworkNamespace(s.Config.Metadata.Uid, s.Config.Metadata.Namespace, s.Config.Metadata.Name, s.Network!.Address, s.Network.NamespacePath))];
        }
    }

    public IReadOnlyList<PodSandbox> ListSandboxes(PodSandboxFilter? filter)
    {
        List<SandboxRecord> sandboxes;
        lock (_lock)
        {
            sandboxes = [.. _sandboxes.Values];
        }

        return [.. sandboxes
            .Where(s => filter is null
                || ((string.IsNullOrEmpty(filter.Id) || s.Id.StartsWith(filter.Id, StringComparison.Ordinal))
                    && (filter.State is null || filter.State.State == s.State)
                    && Matches(s.Config.Labels, filter.LabelSelector)))
            .Select(s =>
            {
                var item = new PodSandbox { Id = s.Id, Metadata = s.Config.Metadata, State = s.State, CreatedAt = s.CreatedAt, RuntimeHandler = s.RuntimeHandler };
                item.Labels.Add(s.Config.Labels);
                item.Annotations.Add(s.Config.Annotations);
                return item;
            })];
    }

    // ---------------- containers ----------------

    public string CreateContainer(string sandboxId, ContainerConfig config)
    {
        var sandbox = FindSandbox(sandboxId) ?? throw NotFound("pod sandbox", sandboxId);
        if (sandbox.State != PodSandboxState.SandboxReady)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, $"Pod sandbox {sandboxId} is not ready."));
        }

        if (config?.Metadata is not { } metadata || string.IsNullOrEmpty(metadata.Name))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "The container config needs metadata with a name."));
        }

        var imageName = config.Image?.UserSpecifiedImage is { Length: > 0 } specified ? specified : config.Image?.Image ?? string.Empty;
        var image = _images.Find(imageName) ?? _images.Find(config.Image?.Image ?? string.Empty)
            ?? throw new RpcException(new Status(StatusCode.NotFound, $"Image \"{imageName}\" is not present on this node."));
        var id = NewId();
        var logPath = string.IsNullOrEmpty(sandbox.Config.LogDirectory) || string.IsNullOrEmpty(config.LogPath)
            ? string.Empty
            : Path.Combine(sandbox.Config.LogDirectory, config.LogPath);
        var environment = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var variable in config.Envs)
        {
            environment[variable.Key] = variable.Value.ToStringUtf8();
        }

        var launch = new ContainerLaunch
        {
            ContainerId = id,
            Argv = CommandLine(image.Mapping, config),
            Environment = environment,
            WorkingDirectory = config.WorkingDir,
            Mounts = MountsOf(sandbox, config),
            NetworkNamespacePath = sandbox.Network?.NamespacePath,
            StageDirectory = Path.Combine(_options.RootDirectory, "containers", id),
            LogPath = logPath,
        };
        var record = new ContainerRecord
        {
            Id = id,
            SandboxId = sandboxId,
            Config = config,
            Image = image,
            CreatedAt = Nanoseconds(_time.GetUtcNow()),
            LogPath = logPath,
            Launch = launch,
        };
        lock (_lock)
        {
            _containers[id] = record;
        }

        LogContainerCreated(_logger, metadata.Name, id[..12], image.Reference, launch.Argv);
        return id;
    }

    public void StartContainer(string containerId)
    {
        var container = FindContainer(containerId) ?? throw NotFound("container", containerId);
        lock (_lock)
        {
            if (container.State != ContainerState.ContainerCreated)
            {
                throw new RpcException(new Status(StatusCode.FailedPrecondition, $"Container {containerId} is {container.State}, not created."));
            }

            try
            {
                container.Process = ContainerProcess.Start(container.Launch, _tools, _time);
            }
            catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or IOException or InvalidOperationException or UnauthorizedAccessException)
            {
                container.StartFailure = new ContainerExit(128, _time.GetUtcNow(), "StartError");
                container.StartFailureMessage = ex.Message;
                throw new RpcException(new Status(StatusCode.Unknown, $"Starting container {container.Config.Metadata.Name} failed: {ex.Message}"));
            }
        }

        var process = container.Process;
        LogContainerStarted(_logger, container.Config.Metadata.Name, containerId[..12], process.ProcessId);
        _ = process.Exited.ContinueWith(
            t => LogContainerExited(_logger, container.Config.Metadata.Name, containerId[..12], t.Result.ExitCode),
            CancellationToken.None,
            TaskContinuationOptions.OnlyOnRanToCompletion,
            TaskScheduler.Default);
    }

    public async Task StopContainerAsync(string containerId, long timeoutSeconds, CancellationToken cancellationToken)
    {
        var container = FindContainer(containerId) ?? throw NotFound("container", containerId);
        if (container.Process is { } process)
        {
            await process.StopAsync(TimeSpan.FromSeconds(Math.Max(0, timeoutSeconds)), cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task RemoveContainerAsync(string containerId, CancellationToken cancellationToken)
    {
        var container = FindContainer(containerId);
        if (container is null)
        {
            return;
        }

        if (container.Process is { } process)
        {
            await process.DisposeAsync().ConfigureAwait(false);
        }

        lock (_lock)
        {
            _containers.Remove(containerId);
        }

        try
        {
            if (Directory.Exists(container.Launch.StageDirectory))
            {
                Directory.Delete(container.Launch.StageDirectory, recursive: true);
            }
        }
        catch (IOException)
        {
            // Left for the box's root directory cleanup.
        }
    }

    public IReadOnlyList<Container> ListContainers(ContainerFilter? filter)
    {
        List<ContainerRecord> containers;
        lock (_lock)
        {
            containers = [.. _containers.Values];
        }

        return [.. containers
            .Where(c => filter is null
                || ((string.IsNullOrEmpty(filter.Id) || c.Id.StartsWith(filter.Id, StringComparison.Ordinal))
                    && (string.IsNullOrEmpty(filter.PodSandboxId) || c.SandboxId.StartsWith(filter.PodSandboxId, StringComparison.Ordinal))
                    && (filter.State is null || filter.State.State == c.State)
                    && Matches(c.Config.Labels, filter.LabelSelector)))
            .Select(c =>
            {
                var item = new Container
                {
                    Id = c.Id,
                    PodSandboxId = c.SandboxId,
                    Metadata = c.Config.Metadata,
                    Image = ImageSpecOf(c),
                    ImageRef = c.Image.Id,
                    ImageId = c.Image.Id,
                    State = c.State,
                    CreatedAt = c.CreatedAt,
                };
                item.Labels.Add(c.Config.Labels);
                item.Annotations.Add(c.Config.Annotations);
                return item;
            })];
    }

    public ContainerStatusResponse ContainerStatus(string containerId, bool verbose)
    {
        var container = FindContainer(containerId) ?? throw NotFound("container", containerId);
        var status = new Cri.V1.ContainerStatus
        {
            Id = container.Id,
            Metadata = container.Config.Metadata,
            State = container.State,
            CreatedAt = container.CreatedAt,
            Image = ImageSpecOf(container),
            ImageRef = container.Image.Id,
            ImageId = container.Image.Id,
            LogPath = container.LogPath,
        };
        status.Labels.Add(container.Config.Labels);
        status.Annotations.Add(container.Config.Annotations);
        status.Mounts.Add(container.Config.Mounts);
        if (container.Process is { } process)
        {
            status.StartedAt = Nanoseconds(process.StartedAt);
            if (process.Exit is { } exit)
            {
                status.FinishedAt = Nanoseconds(exit.FinishedAt);
                status.ExitCode = exit.ExitCode;
                status.Reason = exit.Reason;
            }
        }
        else if (container.StartFailure is { } failure)
        {
            status.FinishedAt = Nanoseconds(failure.FinishedAt);
            status.ExitCode = failure.ExitCode;
            status.Reason = failure.Reason;
            status.Message = container.StartFailureMessage;
        }

        var response = new ContainerStatusResponse { Status = status };
        if (verbose && container.Process is { } running)
        {
            response.Info["pid"] = running.ProcessId.ToString(CultureInfo.InvariantCulture);
        }

        return response;
    }

    public void ReopenContainerLog(string containerId)
    {
        var container = FindContainer(containerId) ?? throw NotFound("container", containerId);
        if (container.Process is not { Exit: null } process)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, $"Container {containerId} is not running."));
        }

        process.ReopenLog();
    }

    /// <summary>Runs a command in a running container's network and mount namespaces (exec probes, <c>kubectl exec</c> without a TTY).</summary>
    public async Task<ExecSyncResponse> ExecSyncAsync(string containerId, IReadOnlyList<string> command, long timeoutSeconds, CancellationToken cancellationToken)
    {
        var start = ExecStartInfo(containerId, command);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (timeoutSeconds > 0)
        {
            timeout.CancelAfter(TimeSpan.FromSeconds(timeoutSeconds));
        }

        using var exec = System.Diagnostics.Process.Start(start) ?? throw new RpcException(new Status(StatusCode.Internal, "nsenter did not start."));
        exec.StandardInput.Close();
        var stdout = exec.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var stderr = exec.StandardError.ReadToEndAsync(CancellationToken.None);
        try
        {
            await exec.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            exec.Kill(entireProcessTree: true);
            throw new RpcException(new Status(StatusCode.DeadlineExceeded, $"The command timed out after {timeoutSeconds} s."));
        }

        return new ExecSyncResponse
        {
            Stdout = Google.Protobuf.ByteString.CopyFrom(await stdout.ConfigureAwait(false), Encoding.UTF8),
            Stderr = Google.Protobuf.ByteString.CopyFrom(await stderr.ConfigureAwait(false), Encoding.UTF8),
            ExitCode = exec.ExitCode,
        };
    }

    /// <summary>
    /// How to start <paramref name="command"/> inside a running container, for <c>ExecSync</c> and the streaming exec:
    /// <c>nsenter</c> into the network and mount namespaces of the container's process, with the container's
    /// environment (and a PATH), every stream redirected. Throws NotFound / FailedPrecondition / InvalidArgument.
    /// </summary>
    public System.Diagnostics.ProcessStartInfo ExecStartInfo(string containerId, IReadOnlyList<string> command)
    {
        ArgumentNullException.ThrowIfNull(command);
        var container = FindContainer(containerId) ?? throw NotFound("container", containerId);
        if (container.Process is not { Exit: null } process)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, $"Container {containerId} is not running."));
        }

        if (command.Count == 0 || string.IsNullOrEmpty(command[0]))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "Exec needs a command."));
        }

        var start = new System.Diagnostics.ProcessStartInfo(_tools.Nsenter)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in new[] { $"--target={process.ProcessId.ToString(CultureInfo.InvariantCulture)}", "--net", "--mount", "--" }.Concat(command))
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment.Clear();
        start.Environment["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        foreach (var variable in container.Config.Envs)
        {
            start.Environment[variable.Key] = variable.Value.ToStringUtf8();
        }

        return start;
    }

    public async ValueTask DisposeAsync()
    {
        List<ContainerRecord> containers;
        List<string> sandboxes;
        lock (_lock)
        {
            containers = [.. _containers.Values];
            sandboxes = [.. _sandboxes.Keys];
        }

        // SIGTERM to every container at once, SIGKILL to what is left after the grace period.
        await Task.WhenAll(containers
            .Where(c => c.Process is not null)
            .Select(c => c.Process!.StopAsync(ShutdownGrace, CancellationToken.None))).ConfigureAwait(false);
        foreach (var container in containers)
        {
            if (container.Process is { } process)
            {
                await process.DisposeAsync().ConfigureAwait(false);
            }
        }

        foreach (var sandbox in sandboxes)
        {
            await RemovePodSandboxAsync(sandbox, CancellationToken.None).ConfigureAwait(false);
        }

        _sandboxChanges.Dispose();
    }

    /// <summary>
    /// The container's command line: the pod's command (its first word naming the image's entrypoint means the
    /// mapped executable) or else the image's entrypoint, then the pod's args.
    /// </summary>
    internal static IReadOnlyList<string> CommandLine(ImageMapping mapping, ContainerConfig config)
    {
        var argv = new List<string>();
        if (config.Command.Count == 0)
        {
            argv.AddRange(mapping.Entrypoint);
        }
        else if (mapping.CommandNames.Contains(config.Command[0], StringComparer.Ordinal))
        {
            argv.AddRange(mapping.Entrypoint);
            argv.AddRange(config.Command.Skip(1));
        }
        else
        {
            argv.AddRange(config.Command);
        }

        argv.AddRange(config.Args);
        return argv;
    }

    /// <summary>The kubelet's mounts, plus the sandbox's resolv.conf unless the kubelet mounts one itself.</summary>
    private static List<ContainerMount> MountsOf(SandboxRecord sandbox, ContainerConfig config)
    {
        var mounts = config.Mounts.Select(m => new ContainerMount(m.HostPath, m.ContainerPath, m.Readonly)).ToList();
        if (sandbox.ResolvConfPath is { } resolvConf && !mounts.Any(m => m.ContainerPath.TrimEnd('/') == SandboxResolvConf.ContainerPath))
        {
            mounts.Add(new ContainerMount(resolvConf, SandboxResolvConf.ContainerPath, ReadOnly: false));
        }

        return mounts;
    }

    private string SandboxDirectory(string sandboxId) => Path.Combine(_options.RootDirectory, "sandboxes", sandboxId);

    private async Task<string?> WriteResolvConfAsync(string sandboxId, DnsConfig? dnsConfig, CancellationToken cancellationToken)
    {
        if (SandboxResolvConf.Render(dnsConfig) is not { } text)
        {
            return null;
        }

        var directory = SandboxDirectory(sandboxId);
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, "resolv.conf");
        await File.WriteAllTextAsync(path, text, cancellationToken).ConfigureAwait(false);
        return path;
    }

    private static ImageSpec ImageSpecOf(ContainerRecord container) => new()
    {
        Image = container.Image.Reference,
        UserSpecifiedImage = container.Config.Image?.UserSpecifiedImage ?? string.Empty,
    };

    private static bool Matches(Google.Protobuf.Collections.MapField<string, string> labels, Google.Protobuf.Collections.MapField<string, string> selector) =>
        selector.All(pair => labels.TryGetValue(pair.Key, out var value) && value == pair.Value);

    private static long Nanoseconds(DateTimeOffset time) => (time.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) * 100;

    private static RpcException NotFound(string what, string id) =>
        new(new Status(StatusCode.NotFound, $"No {what} with id \"{id}\"."));

    private SandboxRecord? FindSandbox(string id)
    {
        lock (_lock)
        {
            return _sandboxes.GetValueOrDefault(id ?? string.Empty);
        }
    }

    private ContainerRecord? FindContainer(string id)
    {
        lock (_lock)
        {
            return _containers.GetValueOrDefault(id ?? string.Empty);
        }
    }

    private List<ContainerRecord> ContainersOf(string sandboxId)
    {
        lock (_lock)
        {
            return [.. _containers.Values.Where(c => c.SandboxId == sandboxId)];
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Pod sandbox {Namespace}/{Name} ({SandboxId}) is up at {Address} (host network: {HostNetwork}).")]
    private static partial void LogSandboxStarted(ILogger logger, string @namespace, string name, string sandboxId, IPAddress address, bool hostNetwork);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The network of pod sandbox {Namespace}/{Name} could not be set up: {Problem}")]
    private static partial void LogSandboxNetworkFailed(ILogger logger, string @namespace, string name, string problem);

    [LoggerMessage(Level = LogLevel.Information, Message = "Pod sandbox {Namespace}/{Name} ({SandboxId}) stopped; its network is removed.")]
    private static partial void LogSandboxStopped(ILogger logger, string @namespace, string name, string sandboxId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Container {Name} ({ContainerId}) created from {Image}: {CommandLine}")]
    private static partial void LogContainerCreated(ILogger logger, string name, string containerId, string image, IReadOnlyList<string> commandLine);

    [LoggerMessage(Level = LogLevel.Information, Message = "Container {Name} ({ContainerId}) started as process {ProcessId}.")]
    private static partial void LogContainerStarted(ILogger logger, string name, string containerId, int processId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Container {Name} ({ContainerId}) exited with code {ExitCode}.")]
    private static partial void LogContainerExited(ILogger logger, string name, string containerId, int exitCode);
}
