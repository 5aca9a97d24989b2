using System.Diagnostics;
using System.Net.Sockets;
using Grpc.Net.Client;
using Waypoint.Node.Cri.V1;
using Waypoint.TestKit.Envoy;

namespace Waypoint.Node.Tests;

/// <summary>
/// <c>waypoint cri</c> as a child process in a network and mount namespace this test makes
/// (<c>unshare --net --mount</c>, <c>lo</c> up, the node IP 10.244.0.2/32 on <c>lo</c>, as the box sets it up), with a
/// gRPC client on its socket. Nothing it does touches the host's network namespace.
/// </summary>
internal sealed class CriServerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly GrpcChannel _channel;
    private readonly List<string> _output = [];

    private CriServerProcess(Process process, string directory, GrpcChannel channel)
    {
        _process = process;
        Directory_ = directory;
        _channel = channel;
        Runtime = new RuntimeService.RuntimeServiceClient(channel);
        Images = new ImageService.ImageServiceClient(channel);
    }

    /// <summary>The test's own directory (socket, runtime root, pod logs, volumes).</summary>
    public string Directory_ { get; }

    public int ProcessId => _process.Id;

    /// <summary>The box's network namespace: the one the server runs in.</summary>
    public string NetworkNamespace => $"/proc/{_process.Id}/ns/net";

    public RuntimeService.RuntimeServiceClient Runtime { get; }

    public ImageService.ImageServiceClient Images { get; }

    public string Output
    {
        get
        {
            lock (_output)
            {
                return string.Join('\n', _output);
            }
        }
    }

    public static async Task<CriServerProcess> StartAsync()
    {
        if (Environment.UserName != "root")
        {
            throw new InvalidOperationException("These tests make network and mount namespaces (unshare --net --mount): run them as root.");
        }

        var directory = System.IO.Directory.CreateTempSubdirectory("wpnode-").FullName;
        var socket = Path.Combine(directory, "cri.sock");
        var start = new ProcessStartInfo("unshare")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        foreach (var argument in new[]
        {
            "--net", "--mount", "--propagation", "private", "--", "sh", "-c",
            "set -e; ip link set lo up; ip addr add 10.244.0.2/32 dev lo; exec \"$@\"", "box",
            DotnetHost(), WaypointDll(), "cri", "--socket", socket, "--root", Path.Combine(directory, "runtime"),
        })
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start)!;
        process.StandardInput.Close();
        var serving = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var lines = new List<string>();
        void OnLine(string? line)
        {
            if (line is null)
            {
                serving.TrySetException(new InvalidOperationException("waypoint cri exited before serving:\n" + string.Join('\n', lines)));
                return;
            }

            lock (lines)
            {
                lines.Add(line);
            }

            if (line.StartsWith("CRI serving on", StringComparison.Ordinal))
            {
                serving.TrySetResult();
            }
        }

        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                OnLine(e.Data);
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await serving.Task.WaitAsync(TimeSpan.FromSeconds(60));
        }
        catch
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        var channel = GrpcChannel.ForAddress("http://localhost", new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler
            {
                ConnectCallback = async (_, cancellationToken) =>
                {
                    var unix = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                    await unix.ConnectAsync(new UnixDomainSocketEndPoint(socket), cancellationToken);
                    return new NetworkStream(unix, ownsSocket: true);
                },
            },
        });
        var server = new CriServerProcess(process, directory, channel);
        lock (lines)
        {
            server._output.AddRange(lines);
        }

        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (server._output)
                {
                    server._output.Add(e.Data);
                }
            }
        };
        return server;
    }

    /// <summary>
    /// Runs a command in the box's network and mount namespaces (e.g. curl to a pod IP; the pod namespace files are
    /// mounts there) and returns exit code and output.
    /// </summary>
    public async Task<(int ExitCode, string Output)> InBoxAsync(params string[] command)
    {
        var start = new ProcessStartInfo("nsenter") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add($"--target={_process.Id}");
        start.ArgumentList.Add("--net");
        start.ArgumentList.Add("--mount");
        foreach (var argument in command)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await output + await error);
    }

    /// <summary>SIGTERM, as the box stops its node; returns the exit code.</summary>
    public async Task<int> StopAsync()
    {
        if (!_process.HasExited)
        {
            Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!.WaitForExit();
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        }

        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        _channel.Dispose();
        if (!_process.HasExited)
        {
            try
            {
                await StopAsync();
            }
            catch (TimeoutException)
            {
                _process.Kill(entireProcessTree: true);
            }
        }

        _process.Dispose();
        try
        {
            System.IO.Directory.Delete(Directory_, recursive: true);
        }
        catch (IOException)
        {
            // A leftover mount point would be a defect the tests report elsewhere.
        }
    }

    private static string DotnetHost() => Environment.ProcessPath is { } path && Path.GetFileNameWithoutExtension(path) == "dotnet"
        ? path
        : "dotnet";

    private static string WaypointDll()
    {
        var root = EnvoyBinary.FindRepositoryRoot() ?? throw new InvalidOperationException("The repository root (Waypoint.sln) was not found.");
        var configuration = AppContext.BaseDirectory.Contains("/Debug/", StringComparison.Ordinal) ? "Debug" : "Release";
        var dll = Path.Combine(root, "src", "Waypoint.Host", "bin", configuration, "net10.0", "waypoint.dll");
        return File.Exists(dll) ? dll : throw new FileNotFoundException($"Build src/Waypoint.Host first ({dll} is missing).");
    }
}
