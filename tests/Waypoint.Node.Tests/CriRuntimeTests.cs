using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Google.Protobuf;
using Grpc.Core;
using Waypoint.Node.Cri.V1;

namespace Waypoint.Node.Tests;

/// <summary>
/// The CRI runtime driven over its unix socket as the kubelet drives it, with the server in a network and mount
/// namespace of the test's own: pods get their own network namespace and IP, containers are processes there.
/// </summary>
public sealed partial class CriRuntimeTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Version_Names_The_Runtime_And_Api()
    {
        await using var server = await CriServerProcess.StartAsync();

        var version = await server.Runtime.VersionAsync(new VersionRequest { Version = "v1" });

        Assert.Equal("waypoint-node", version.RuntimeName);
        Assert.Equal("v1", version.RuntimeApiVersion);
        Assert.False(string.IsNullOrEmpty(version.Version));
        Assert.False(string.IsNullOrEmpty(version.RuntimeVersion));
        var status = await server.Runtime.StatusAsync(new StatusRequest());
        Assert.Contains(status.Status.Conditions, c => c.Type == "RuntimeReady" && c.Status);
        Assert.Contains(status.Status.Conditions, c => c.Type == "NetworkReady" && c.Status);
    }

    [Fact]
    public async Task An_Unknown_Image_Fails_To_Pull_And_Is_Not_Present()
    {
        await using var server = await CriServerProcess.StartAsync();

        var pull = await Assert.ThrowsAsync<RpcException>(async () =>
            await server.Images.PullImageAsync(new PullImageRequest { Image = new ImageSpec { Image = "nginx:1.27" } }));
        var status = await server.Images.ImageStatusAsync(new ImageStatusRequest { Image = new ImageSpec { Image = "nginx:1.27" } });

        Assert.Equal(StatusCode.NotFound, pull.StatusCode);
        Assert.Contains("nginx:1.27", pull.Status.Detail, StringComparison.Ordinal);
        Assert.Null(status.Image);
    }

    [Fact]
    public async Task A_Known_Image_Is_Present_With_Id_And_Size()
    {
        await using var server = await CriServerProcess.StartAsync();

        var pulled = await server.Images.PullImageAsync(new PullImageRequest { Image = new ImageSpec { Image = "ghcr.io/waypoint-mesh/waypoint:0.1.0" } });
        var status = await server.Images.ImageStatusAsync(new ImageStatusRequest { Image = new ImageSpec { Image = pulled.ImageRef } });
        var listed = await server.Images.ListImagesAsync(new ListImagesRequest());

        Assert.StartsWith("sha256:", pulled.ImageRef, StringComparison.Ordinal);
        Assert.Equal(pulled.ImageRef, status.Image.Id);
        Assert.True(status.Image.Size > 0);
        Assert.Contains(listed.Images, i => i.Id == pulled.ImageRef && i.RepoTags.Contains("ghcr.io/waypoint-mesh/waypoint:0.1.0"));
    }

    [Fact]
    public async Task An_Echo_Pod_Runs_In_Its_Own_Network_With_Its_Mounts_And_Logs_And_Is_Removed_Cleanly()
    {
        await using var server = await CriServerProcess.StartAsync();
        var volume = Directory.CreateDirectory(Path.Combine(server.Directory_, "volumes", "token")).FullName;
        await File.WriteAllTextAsync(Path.Combine(volume, "token"), "the-projected-token");
        var logDirectory = Path.Combine(server.Directory_, "pod-logs", "demo_echo_uid-1");
        var sandboxConfig = new PodSandboxConfig
        {
            Metadata = new PodSandboxMetadata { Name = "echo", Namespace = "demo", Uid = "uid-1" },
            Hostname = "echo",
            LogDirectory = logDirectory,
            Labels = { ["app"] = "echo" },
        };

        // Sandbox: an IP of the pod network, its own network namespace, a route in the box.
        var sandboxId = (await server.Runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = sandboxConfig })).PodSandboxId;
        var sandbox = await server.Runtime.PodSandboxStatusAsync(new PodSandboxStatusRequest { PodSandboxId = sandboxId, Verbose = true });
        var podIp = IPAddress.Parse(sandbox.Status.Network.Ip);
        var netns = sandbox.Info["netns"];
        Assert.Equal(PodSandboxState.SandboxReady, sandbox.Status.State);
        Assert.Equal(NamespaceMode.Pod, sandbox.Status.Linux.Namespaces.Options.Network);
        Assert.True(IPNetwork.Parse("10.244.0.0/16").Contains(podIp), $"{podIp} is not in 10.244.0.0/16");
        Assert.NotEqual(IPAddress.Parse("10.244.0.2"), podIp);
        var route = await server.InBoxAsync("ip", "route", "show", $"{podIp}/32");
        Assert.Contains("dev wp" + sandboxId[..11], route.Output, StringComparison.Ordinal);
        var podAddresses = await server.InBoxAsync("nsenter", $"--net={netns}", "ip", "-4", "addr", "show", "dev", "eth0");
        Assert.Contains($"inet {podIp}/32", podAddresses.Output, StringComparison.Ordinal);

        // Container: the echo image, a read-only volume at a path the host does not have.
        const string tokenPath = "/var/run/secrets/kubernetes.io/serviceaccount";
        var hostHadTokenPath = Directory.Exists(tokenPath);
        var image = (await server.Images.PullImageAsync(new PullImageRequest { Image = new ImageSpec { Image = "waypoint/echo" } })).ImageRef;
        var containerId = (await server.Runtime.CreateContainerAsync(new CreateContainerRequest
        {
            PodSandboxId = sandboxId,
            SandboxConfig = sandboxConfig,
            Config = new ContainerConfig
            {
                Metadata = new ContainerMetadata { Name = "echo" },
                Image = new ImageSpec { Image = image, UserSpecifiedImage = "waypoint/echo" },
                Args = { "--http-port", "8080" },
                Envs = { Env("POD_NAME", "echo-7f9c"), Env("POD_NAMESPACE", "demo") },
                Mounts = { new Mount { HostPath = volume, ContainerPath = tokenPath, Readonly = true } },
                LogPath = "echo/0.log",
            },
        })).ContainerId;
        await server.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = containerId });
        var running = await server.Runtime.ContainerStatusAsync(new ContainerStatusRequest { ContainerId = containerId, Verbose = true });
        var pid = int.Parse(running.Info["pid"], CultureInfo.InvariantCulture);
        Assert.Equal(ContainerState.ContainerRunning, running.Status.State);
        Assert.Equal(image, running.Status.ImageRef);

        // From the box, the pod IP reaches the echo app (wait until it listens).
        var reply = await EventuallyAsync(() => server.InBoxAsync("curl", "-sf", "-m", "5", $"http://{podIp}:8080/hello"), r => r.ExitCode == 0);
        using (var json = JsonDocument.Parse(reply.Output))
        {
            Assert.Equal("echo-7f9c", json.RootElement.GetProperty("pod").GetString());
            Assert.Equal("/hello", json.RootElement.GetProperty("path").GetString());
        }

        // The process is in the pod's network namespace and sees its mount, read-only; the host does not.
        Assert.Equal($"net:[{(await server.InBoxAsync("stat", "-L", "-c", "%i", netns)).Output.Trim()}]", NamespaceInode($"/proc/{pid}/ns/net"));
        Assert.NotEqual(NamespaceInode(server.NetworkNamespace), NamespaceInode($"/proc/{pid}/ns/net"));
        // (Through /proc/PID/root an absolute symlink such as /var/run -> /run resolves in our view: resolve it first.)
        var resolvedTokenPath = ResolveExistingPrefix(tokenPath);
        Assert.Equal("the-projected-token", await File.ReadAllTextAsync($"/proc/{pid}/root{resolvedTokenPath}/token"));
        var mountLine = (await File.ReadAllLinesAsync($"/proc/{pid}/mountinfo")).Single(l => l.Split(' ')[4] == resolvedTokenPath);
        Assert.Matches(@"^\S+ \S+ \S+ \S+ \S+ ro[, ]", mountLine);
        Assert.Equal(hostHadTokenPath, Directory.Exists(tokenPath));

        // Stop: SIGTERM reaches the app, which exits by itself (0, not 137 from SIGKILL).
        await server.Runtime.StopContainerAsync(new StopContainerRequest { ContainerId = containerId, Timeout = 30 });
        var stopped = await server.Runtime.ContainerStatusAsync(new ContainerStatusRequest { ContainerId = containerId });
        Assert.Equal(ContainerState.ContainerExited, stopped.Status.State);
        Assert.Equal(0, stopped.Status.ExitCode);
        Assert.True(stopped.Status.FinishedAt >= stopped.Status.StartedAt && stopped.Status.StartedAt > 0);
        Assert.False(Directory.Exists($"/proc/{pid}"), $"process {pid} still exists");

        // Its output is in the CRI log format at the kubelet's log path.
        var log = await File.ReadAllLinesAsync(Path.Combine(logDirectory, "echo", "0.log"));
        Assert.NotEmpty(log);
        Assert.All(log, line => Assert.Matches(CriLogLine(), line));
        Assert.Contains(log, l => l.Contains(" stdout F echo demo/echo-7f9c listening", StringComparison.Ordinal));
        Assert.Contains(log, l => l.EndsWith(" stdout F GET /hello from " + podIp + ":8080 -> 200", StringComparison.Ordinal));
        Assert.Contains(log, l => l.EndsWith(" stdout F echo stopping (signal)", StringComparison.Ordinal));

        // Remove: the container, then the sandbox with its namespace, veth and route.
        await server.Runtime.RemoveContainerAsync(new RemoveContainerRequest { ContainerId = containerId });
        await server.Runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = sandboxId });
        await server.Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = sandboxId });
        Assert.Empty((await server.Runtime.ListContainersAsync(new ListContainersRequest())).Containers);
        Assert.Empty((await server.Runtime.ListPodSandboxAsync(new ListPodSandboxRequest())).Items);
        Assert.False(File.Exists(netns), $"{netns} is left");
        Assert.Equal(string.Empty, (await server.InBoxAsync("ip", "route", "show", $"{podIp}/32")).Output.Trim());
        Assert.NotEqual(0, (await server.InBoxAsync("ip", "link", "show", "dev", "wp" + sandboxId[..11])).ExitCode);
        var gone = await Assert.ThrowsAsync<RpcException>(async () => await server.Runtime.PodSandboxStatusAsync(new PodSandboxStatusRequest { PodSandboxId = sandboxId }));
        Assert.Equal(StatusCode.NotFound, gone.StatusCode);
    }

    [Fact]
    public async Task A_Container_Ignoring_Sigterm_Is_Killed_With_Its_Whole_Process_Group()
    {
        await using var server = await CriServerProcess.StartAsync();
        var (sandboxId, config) = await RunSandboxAsync(server, "stubborn");
        var containerId = (await server.Runtime.CreateContainerAsync(new CreateContainerRequest
        {
            PodSandboxId = sandboxId,
            SandboxConfig = config,
            Config = new ContainerConfig
            {
                Metadata = new ContainerMetadata { Name = "stubborn" },
                Image = new ImageSpec { Image = "waypoint/echo" },
                Command = { "sh", "-c", "trap '' TERM; sleep 1000 & echo started; while :; do wait; done" },
                LogPath = "stubborn/0.log",
            },
        })).ContainerId;
        await server.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = containerId });
        var pid = int.Parse((await server.Runtime.ContainerStatusAsync(new ContainerStatusRequest { ContainerId = containerId, Verbose = true })).Info["pid"], CultureInfo.InvariantCulture);
        var log = Path.Combine(config.LogDirectory, "stubborn", "0.log");
        await EventuallyAsync(() => Task.FromResult(File.Exists(log) ? File.ReadAllText(log) : string.Empty), t => t.Contains("stdout F started", StringComparison.Ordinal));
        Assert.Contains(GroupMembers(pid), p => p != pid);

        await server.Runtime.StopContainerAsync(new StopContainerRequest { ContainerId = containerId, Timeout = 1 });

        var status = await server.Runtime.ContainerStatusAsync(new ContainerStatusRequest { ContainerId = containerId });
        Assert.Equal(ContainerState.ContainerExited, status.Status.State);
        Assert.Equal(137, status.Status.ExitCode);
        Assert.Empty(GroupMembers(pid));
    }

    [Fact]
    public async Task Stopping_The_Runtime_Stops_Every_Container_And_Removes_Every_Pod_Network()
    {
        var server = await CriServerProcess.StartAsync();
        await using (server)
        {
            var (sandboxId, config) = await RunSandboxAsync(server, "sleeper");
            var containerId = (await server.Runtime.CreateContainerAsync(new CreateContainerRequest
            {
                PodSandboxId = sandboxId,
                SandboxConfig = config,
                Config = new ContainerConfig
                {
                    Metadata = new ContainerMetadata { Name = "sleeper" },
                    Image = new ImageSpec { Image = "waypoint/echo" },
                    Command = { "sleep", "1000" },
                },
            })).ContainerId;
            await server.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = containerId });
            var pid = int.Parse((await server.Runtime.ContainerStatusAsync(new ContainerStatusRequest { ContainerId = containerId, Verbose = true })).Info["pid"], CultureInfo.InvariantCulture);
            var netns = (await server.Runtime.PodSandboxStatusAsync(new PodSandboxStatusRequest { PodSandboxId = sandboxId, Verbose = true })).Info["netns"];
            Assert.True(Directory.Exists($"/proc/{pid}"));

            Assert.Equal(0, await server.StopAsync());

            Assert.Empty(GroupMembers(pid));
            Assert.False(File.Exists(netns), $"{netns} is left");
        }
    }

    [Fact]
    public async Task Mounts_At_Paths_The_Host_Lacks_Are_Made_Only_Inside_The_Container()
    {
        await using var server = await CriServerProcess.StartAsync();
        var (sandboxId, config) = await RunSandboxAsync(server, "mounts");
        var configDir = Directory.CreateDirectory(Path.Combine(server.Directory_, "volumes", "config")).FullName;
        await File.WriteAllTextAsync(Path.Combine(configDir, "mesh"), "trustDomain: cluster.local");
        var scratch = Directory.CreateDirectory(Path.Combine(server.Directory_, "volumes", "scratch")).FullName;
        var emptyTmp = Directory.CreateDirectory(Path.Combine(server.Directory_, "volumes", "tmp")).FullName;
        var terminationLog = Path.Combine(server.Directory_, "volumes", "termination-log");
        await File.WriteAllTextAsync(terminationLog, string.Empty);
        const string configPath = "/etc/wp-node-test/istio/config";
        const string scratchPath = "/var/lib/wp-node-test/data";
        const string terminationPath = "/dev/wp-node-test-termination-log";
        var containerId = (await server.Runtime.CreateContainerAsync(new CreateContainerRequest
        {
            PodSandboxId = sandboxId,
            SandboxConfig = config,
            Config = new ContainerConfig
            {
                Metadata = new ContainerMetadata { Name = "mounts" },
                Image = new ImageSpec { Image = "waypoint/echo" },
                Command = { "sh", "-c", $"cat {configPath}/mesh; echo; echo written > {scratchPath}/out; echo done > {terminationPath}; ls /etc/hostname >/dev/null && echo etc-intact; pwd" },
                WorkingDir = scratchPath,
                Mounts =
                {
                    new Mount { HostPath = configDir, ContainerPath = configPath, Readonly = true },
                    new Mount { HostPath = scratch, ContainerPath = scratchPath },
                    new Mount { HostPath = terminationLog, ContainerPath = terminationPath },
                    new Mount { HostPath = emptyTmp, ContainerPath = "/tmp" },
                },
                LogPath = "mounts/0.log",
            },
        })).ContainerId;

        await server.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = containerId });
        var exited = await EventuallyAsync(
            () => server.Runtime.ContainerStatusAsync(new ContainerStatusRequest { ContainerId = containerId }).ResponseAsync,
            s => s.Status.State == ContainerState.ContainerExited);

        var log = await File.ReadAllTextAsync(Path.Combine(config.LogDirectory, "mounts", "0.log"));
        Assert.True(exited.Status.ExitCode == 0, log);
        Assert.Equal("Completed", exited.Status.Reason);
        Assert.Contains("stdout F trustDomain: cluster.local", log, StringComparison.Ordinal);
        Assert.Contains("stdout F etc-intact", log, StringComparison.Ordinal);
        Assert.Contains("stdout F " + scratchPath, log, StringComparison.Ordinal);
        Assert.Equal("written\n", await File.ReadAllTextAsync(Path.Combine(scratch, "out")));
        Assert.Equal("done\n", await File.ReadAllTextAsync(terminationLog));
        Assert.Empty(Directory.EnumerateFileSystemEntries(emptyTmp));
        Assert.False(Directory.Exists("/etc/wp-node-test"), "the container path was created on the host");
        Assert.False(Directory.Exists("/var/lib/wp-node-test"), "the container path was created on the host");
        Assert.False(File.Exists(terminationPath), "the container path was created on the host");
    }

    [Fact]
    public async Task A_Container_Sees_The_Resolv_Conf_Of_Its_Sandbox_Dns_Config_And_The_Host_Keeps_Its_Own()
    {
        await using var server = await CriServerProcess.StartAsync();
        var hostResolvConf = File.Exists("/etc/resolv.conf") ? await File.ReadAllTextAsync("/etc/resolv.conf") : null;
        var config = new PodSandboxConfig
        {
            Metadata = new PodSandboxMetadata { Name = "dns", Namespace = "demo", Uid = "uid-dns" },
            LogDirectory = Path.Combine(server.Directory_, "pod-logs", "dns"),
            // What the kubelet passes for dnsPolicy ClusterFirst with clusterDNS 10.96.0.10, clusterDomain cluster.local.
            DnsConfig = new DnsConfig
            {
                Servers = { "10.96.0.10" },
                Searches = { "demo.svc.cluster.local", "svc.cluster.local", "cluster.local" },
                Options = { "ndots:5" },
            },
        };
        var sandboxId = (await server.Runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = config })).PodSandboxId;
        var containerId = (await server.Runtime.CreateContainerAsync(new CreateContainerRequest
        {
            PodSandboxId = sandboxId,
            SandboxConfig = config,
            Config = new ContainerConfig
            {
                Metadata = new ContainerMetadata { Name = "dns" },
                Image = new ImageSpec { Image = "waypoint/echo" },
                Command = { "sh", "-c", "cat /etc/resolv.conf" },
                LogPath = "dns/0.log",
            },
        })).ContainerId;

        await server.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = containerId });
        var exited = await EventuallyAsync(
            () => server.Runtime.ContainerStatusAsync(new ContainerStatusRequest { ContainerId = containerId }).ResponseAsync,
            s => s.Status.State == ContainerState.ContainerExited);

        var log = await File.ReadAllTextAsync(Path.Combine(config.LogDirectory, "dns", "0.log"));
        Assert.True(exited.Status.ExitCode == 0, log);
        Assert.Contains("stdout F search demo.svc.cluster.local svc.cluster.local cluster.local", log, StringComparison.Ordinal);
        Assert.Contains("stdout F nameserver 10.96.0.10", log, StringComparison.Ordinal);
        Assert.Contains("stdout F options ndots:5", log, StringComparison.Ordinal);
        Assert.Equal(hostResolvConf, File.Exists("/etc/resolv.conf") ? await File.ReadAllTextAsync("/etc/resolv.conf") : null);

        // Removing the sandbox removes its file.
        await server.Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = sandboxId });
        var left = await server.InBoxAsync("find", server.Directory_, "-name", "resolv.conf");
        Assert.DoesNotContain(sandboxId, left.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_Envoy_Image_Runs_The_Real_Envoy()
    {
        await using var server = await CriServerProcess.StartAsync();
        var (sandboxId, config) = await RunSandboxAsync(server, "envoy");
        var containerId = (await server.Runtime.CreateContainerAsync(new CreateContainerRequest
        {
            PodSandboxId = sandboxId,
            SandboxConfig = config,
            Config = new ContainerConfig
            {
                Metadata = new ContainerMetadata { Name = "envoy" },
                Image = new ImageSpec { Image = "envoyproxy/envoy:v1.36.2" },
                Args = { "--version" },
                LogPath = "envoy/0.log",
            },
        })).ContainerId;

        await server.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = containerId });
        var exited = await EventuallyAsync(
            () => server.Runtime.ContainerStatusAsync(new ContainerStatusRequest { ContainerId = containerId }).ResponseAsync,
            s => s.Status.State == ContainerState.ContainerExited);

        var log = await File.ReadAllTextAsync(Path.Combine(config.LogDirectory, "envoy", "0.log"));
        Assert.True(exited.Status.ExitCode == 0, log);
        Assert.Matches(@"stdout F .*envoy\s+version: [0-9a-f]{40}/1\.\d+", log);
    }

    [Fact]
    public async Task A_Host_Network_Sandbox_Has_The_Node_Address_And_No_Namespace()
    {
        await using var server = await CriServerProcess.StartAsync();
        var config = new PodSandboxConfig
        {
            Metadata = new PodSandboxMetadata { Name = "hostnet", Namespace = "kube-system", Uid = "uid-hostnet" },
            Linux = new LinuxPodSandboxConfig { SecurityContext = new LinuxSandboxSecurityContext { NamespaceOptions = new NamespaceOption { Network = NamespaceMode.Node } } },
        };

        var id = (await server.Runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = config })).PodSandboxId;
        var status = await server.Runtime.PodSandboxStatusAsync(new PodSandboxStatusRequest { PodSandboxId = id, Verbose = true });

        Assert.Equal("10.244.0.2", status.Status.Network.Ip);
        Assert.Equal(NamespaceMode.Node, status.Status.Linux.Namespaces.Options.Network);
        Assert.False(status.Info.ContainsKey("netns"));
    }

    [Fact]
    public async Task An_Unknown_Image_Cannot_Be_Used_For_A_Container()
    {
        await using var server = await CriServerProcess.StartAsync();
        var (sandboxId, config) = await RunSandboxAsync(server, "nginx");

        var create = await Assert.ThrowsAsync<RpcException>(async () => await server.Runtime.CreateContainerAsync(new CreateContainerRequest
        {
            PodSandboxId = sandboxId,
            SandboxConfig = config,
            Config = new ContainerConfig { Metadata = new ContainerMetadata { Name = "nginx" }, Image = new ImageSpec { Image = "nginx:1.27" } },
        }));

        Assert.Equal(StatusCode.NotFound, create.StatusCode);
        Assert.Empty((await server.Runtime.ListContainersAsync(new ListContainersRequest())).Containers);
    }

    [GeneratedRegex(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) F .*$")]
    private static partial Regex CriLogLine();

    private static KeyValue Env(string name, string value) => new() { Key = name, Value = ByteString.CopyFromUtf8(value) };

    private static async Task<(string SandboxId, PodSandboxConfig Config)> RunSandboxAsync(CriServerProcess server, string name)
    {
        var config = new PodSandboxConfig
        {
            Metadata = new PodSandboxMetadata { Name = name, Namespace = "demo", Uid = "uid-" + name },
            LogDirectory = Path.Combine(server.Directory_, "pod-logs", name),
        };
        var id = (await server.Runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = config })).PodSandboxId;
        return (id, config);
    }

    /// <summary>Processes whose process group is <paramref name="group"/> (a container's processes).</summary>
    private static List<int> GroupMembers(int group)
    {
        var members = new List<int>();
        foreach (var entry in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(entry), CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            try
            {
                var stat = File.ReadAllText(Path.Combine(entry, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                if (fields[0] != "Z" && int.Parse(fields[2], CultureInfo.InvariantCulture) == group)
                {
                    members.Add(pid);
                }
            }
            catch (IOException)
            {
                // Exited while listing.
            }
        }

        return members;
    }

    /// <summary>The path with the symlinks of its existing leading directories resolved (/var/run/x → /run/x).</summary>
    private static string ResolveExistingPrefix(string path)
    {
        var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var resolved = "/";
        for (var i = 0; i < parts.Length; i++)
        {
            var next = Path.Combine(resolved, parts[i]);
            if (!Directory.Exists(next))
            {
                return Path.Combine([next, .. parts[(i + 1)..]]);
            }

            resolved = new DirectoryInfo(next).ResolveLinkTarget(true)?.FullName ?? next;
        }

        return resolved;
    }

    private static string NamespaceInode(string path) => new FileInfo(path).ResolveLinkTarget(false)?.Name ?? string.Empty;

    /// <summary>Waits for a condition the system reaches by itself (a server listening); not a timing assertion.</summary>
    private static async Task<T> EventuallyAsync<T>(Func<Task<T>> probe, Func<T, bool> done)
    {
        using var deadline = new CancellationTokenSource(Patience);
        while (true)
        {
            var value = await probe();
            if (done(value))
            {
                return value;
            }

            if (deadline.IsCancellationRequested)
            {
                Assert.Fail($"Not reached within {Patience}: last {value}");
            }

            await Task.Delay(100, CancellationToken.None);
        }
    }
}
