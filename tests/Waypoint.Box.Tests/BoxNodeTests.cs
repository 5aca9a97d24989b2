using System.Diagnostics;
using System.Net;
using System.Text;
using k8s;
using k8s.Models;
using Waypoint.Box.Assets;
using Waypoint.Box.Network;
using Waypoint.TestKit.Box;

namespace Waypoint.Box.Tests;

/// <summary>The box without istiod (not needed here), with its node: the real kubelet on our process runtime.</summary>
public sealed class NodeBoxFixture : SharedBoxFixture
{
    protected override string[] Arguments => ["--no-istiod"];
}

/// <summary>
/// The box runs a real node: the kubelet registers, pods of known images run as processes in their own network
/// namespaces and are reachable from inside the box, unknown images never run, and a deleted pod's process stops.
/// </summary>
[Collection(BoxCollectionDefinition.Name)]
public sealed class BoxNodeTests(NodeBoxFixture box) : IClassFixture<NodeBoxFixture>
{
    private const string NodeName = "box-node";
    private const string ServiceAccountDirectory = "/var/run/secrets/kubernetes.io/serviceaccount";

    private BoxState State => box.Connection.State;

    [Fact]
    public async Task The_node_registers_Ready_on_our_runtime_and_loses_the_not_ready_taint()
    {
        using var client = box.Connection.CreateKubernetesClient();
        Assert.NotNull(State.Node);
        Assert.Equal(NodeName, State.Node.Name);
        Assert.Equal(State.NetworkNamespaceId, BoxNetwork.NetworkNamespaceOf(State.Node.KubeletProcessId));

        var node = await client.CoreV1.ReadNodeAsync(NodeName);
        Assert.Equal("True", node.Status.Conditions.Single(c => c.Type == "Ready").Status);
        Assert.StartsWith("waypoint-node://", node.Status.NodeInfo.ContainerRuntimeVersion, StringComparison.Ordinal);
        Assert.Contains(node.Status.Addresses, a => a.Type == "InternalIP" && a.Address == BoxNetwork.NodeIp.ToString());

        // The node-lifecycle controller removes the taint the API server's admission put on the new Node.
        Assert.True(await BoxPods.Eventually(async () =>
            (await client.CoreV1.ReadNodeAsync(NodeName)).Spec.Taints?.Any(t => t.Key == "node.kubernetes.io/not-ready") != true));
    }

    [Fact]
    public async Task An_echo_pod_runs_Ready_in_the_pod_range_answers_from_inside_the_box_and_logs_through_kubectl()
    {
        using var client = box.Connection.CreateKubernetesClient();
        const string name = "echo-ready";
        await CreateEchoServiceAsync(client, name);
        await client.CoreV1.CreateNamespacedPodAsync(BoxPods.Echo(name, terminationGracePeriodSeconds: 5), "default");

        var pod = await BoxPods.WaitForAsync(client, name, p => p.Status?.Conditions?.Any(c => c.Type == "Ready" && c.Status == "True") == true);
        Assert.Equal("Running", pod.Status.Phase);
        Assert.Equal(NodeName, pod.Spec.NodeName);
        var podIp = IPAddress.Parse(pod.Status.PodIP);
        Assert.True(System.Net.IPNetwork.Parse(BoxNetwork.PodCidr).Contains(podIp), pod.Status.PodIP);
        Assert.NotEqual(BoxNetwork.NodeIp, podIp);

        Assert.True(await BoxPods.Eventually(async () =>
        {
            var slices = await client.DiscoveryV1.ListNamespacedEndpointSliceAsync("default", labelSelector: $"kubernetes.io/service-name={name}");
            return slices.Items.SelectMany(s => s.Endpoints ?? []).Any(e => e.Addresses.Contains(pod.Status.PodIP) && e.Conditions?.Ready == true && e.NodeName == NodeName);
        }), "the EndpointSlice never listed the pod ready");

        using var http = box.Connection.Network.CreateHttpClient();
        var reply = await http.GetStringAsync(new Uri($"http://{pod.Status.PodIP}:8080/hello"));
        Assert.Contains(name, reply, StringComparison.Ordinal);

        var (code, logs) = await KubectlAsync("logs", "-n", "default", name, "-c", "echo");
        Assert.True(code == 0, logs);
        Assert.Contains($"echo default/{name} listening", logs, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_pod_sees_its_projected_ServiceAccount_token_and_its_logs_come_through_the_API()
    {
        using var client = box.Connection.CreateKubernetesClient();
        const string name = "sa-check";
        await BoxPods.CreateAsync(client, new V1Pod
        {
            Metadata = new V1ObjectMeta { Name = name },
            Spec = new V1PodSpec
            {
                RestartPolicy = "Never",
                Containers =
                [
                    new V1Container
                    {
                        Name = "check",
                        Image = "waypoint/echo",
                        // A host shell; the token itself is never printed, only that it is there.
                        Command = ["sh", "-c", $"cd {ServiceAccountDirectory} && ls && echo namespace=$(cat namespace) && test -s token && test -s ca.crt && echo token-present"],
                    },
                ],
            },
        });

        var pod = await BoxPods.WaitForAsync(client, name, p => p.Status?.Phase is "Succeeded" or "Failed");
        using var stream = await client.CoreV1.ReadNamespacedPodLogAsync(name, "default", container: "check");
        var logs = await new StreamReader(stream).ReadToEndAsync();
        Assert.True(pod.Status.Phase == "Succeeded", logs);
        Assert.Contains("namespace=default", logs, StringComparison.Ordinal);
        Assert.Contains("token-present", logs, StringComparison.Ordinal);
    }

    /// <summary>
    /// Issue #16: <c>pods/exec</c> through the real API server and kubelet (KubernetesClient's WebSocket,
    /// <c>v4.channel.k8s.io</c>) reaches the runtime's streaming server: the command runs in the pod's network and
    /// mount namespaces, stdin, stdout and stderr stream, and a non-zero exit comes back as the exit code.
    /// </summary>
    [Fact]
    public async Task A_command_execs_in_the_pod_through_the_API_server_with_its_streams_and_exit_code()
    {
        using var client = box.Connection.CreateKubernetesClient();
        const string name = "echo-exec";
        await BoxPods.CreateAsync(client, BoxPods.Echo(name));
        var pod = await BoxPods.WaitForReadyAsync(client, name);

        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        var exitCode = await client.NamespacedPodExecAsync(name, "default", "echo",
            ["sh", "-c", $"ip -o -4 addr show dev eth0; cat {ServiceAccountDirectory}/namespace; echo; read line; echo got:$line; echo to-stderr >&2; exit 3"],
            tty: false,
            async (stdin, output, error) =>
            {
                await stdin.WriteAsync("hello\n"u8.ToArray());
                await stdin.FlushAsync();
                var reading = new StreamReader(error).ReadToEndAsync();
                stdout.Append(await new StreamReader(output).ReadToEndAsync());
                stderr.Append(await reading);
            },
            CancellationToken.None);

        Assert.Equal(3, exitCode);
        var text = stdout.ToString();
        Assert.Contains($"inet {pod.Status.PodIP}/32", text, StringComparison.Ordinal);  // the pod's network namespace
        Assert.Contains("default\n", text, StringComparison.Ordinal);                     // the kubelet's mounts: the container's view
        Assert.Contains("got:hello", text, StringComparison.Ordinal);                      // stdin reached the command
        Assert.Equal("to-stderr", stderr.ToString().Trim());

        // Success reads as exit code 0; the same pod answers again (every URL is single-use, a new one each time).
        var again = new StringBuilder();
        Assert.Equal(0, await client.NamespacedPodExecAsync(name, "default", "echo", ["sh", "-c", "echo fine"], tty: false,
            async (_, output, _) => again.Append(await new StreamReader(output).ReadToEndAsync()), CancellationToken.None));
        Assert.Equal("fine", again.ToString().Trim());
    }

    [Fact]
    public async Task A_pod_of_an_unknown_image_fails_to_pull_and_never_runs()
    {
        using var client = box.Connection.CreateKubernetesClient();
        const string name = "unknown-image";
        await BoxPods.CreateAsync(client, new V1Pod
        {
            Metadata = new V1ObjectMeta { Name = name },
            Spec = new V1PodSpec { Containers = [new V1Container { Name = "nginx", Image = "nginx:1.27" }] },
        });

        var pod = await BoxPods.WaitForAsync(client, name, p =>
            p.Status?.ContainerStatuses?.Any(s => s.State?.Waiting?.Reason is "ErrImagePull" or "ImagePullBackOff") == true);
        Assert.Equal("Pending", pod.Status.Phase);
        Assert.All(pod.Status.ContainerStatuses, s => Assert.Null(s.State.Running));
        Assert.Contains(pod.Status.ContainerStatuses, s => s.State.Waiting.Message?.Contains("nginx:1.27", StringComparison.Ordinal) == true);
    }

    [Fact]
    public async Task Deleting_a_pod_stops_its_process()
    {
        using var client = box.Connection.CreateKubernetesClient();
        const string name = "echo-deleted";
        await client.CoreV1.CreateNamespacedPodAsync(BoxPods.Echo(name, terminationGracePeriodSeconds: 5), "default");
        var pod = await BoxPods.WaitForAsync(client, name, p => p.Status?.Phase == "Running");
        var pid = BoxPods.FindContainerProcess(name);
        Assert.True(pid is not null, "no process carries the pod's POD_NAME");
        var podNamespace = BoxNetwork.NetworkNamespaceOf(pid.Value);
        Assert.NotNull(podNamespace);
        Assert.NotEqual(State.NetworkNamespaceId, podNamespace);

        await client.CoreV1.DeleteNamespacedPodAsync(name, "default");
        Assert.True(await BoxPods.Eventually(() => Task.FromResult(BoxPods.FindContainerProcess(name) is null), attempts: 600), $"pid {pid} of {pod.Metadata.Name} still runs");
        Assert.True(await BoxPods.Eventually(async () => (await client.CoreV1.ListNamespacedPodAsync("default", fieldSelector: $"metadata.name={name}")).Items.Count == 0, attempts: 600));
    }

    private static async Task CreateEchoServiceAsync(Kubernetes client, string name) =>
        await client.CoreV1.CreateNamespacedServiceAsync(new V1Service
        {
            Metadata = new V1ObjectMeta { Name = name },
            Spec = new V1ServiceSpec
            {
                Selector = new Dictionary<string, string> { ["app"] = name },
                Ports = [new V1ServicePort { Name = "http", Port = 80, TargetPort = 8080 }],
            },
        }, "default");

    private async Task<(int Code, string Output)> KubectlAsync(params string[] arguments)
    {
        var startInfo = new ProcessStartInfo("nsenter") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in (string[])[$"--net={State.NetworkNamespacePath}", "--", KubernetesAssets.Locate().Kubectl, "--kubeconfig", State.AdminKubeconfigPath, .. arguments])
        {
            startInfo.ArgumentList.Add(argument);
        }

        using var process = Process.Start(startInfo)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, stdout + await stderr);
    }
}
