using System.Diagnostics;
using System.Globalization;
using System.Net;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Waypoint.TestKit.Box;

namespace Waypoint.Box.Tests;

/// <summary>Pods on the box's node for tests: the echo pod, waiting on status, and entering a pod's namespaces.</summary>
internal static class BoxPods
{
    /// <summary>An echo pod (`waypoint echo`, named port <c>http</c> 8080, ready on <c>/ready</c>) answering with its name.</summary>
    public static V1Pod Echo(string name, IDictionary<string, string>? labels = null, long terminationGracePeriodSeconds = 2) => new()
    {
        Metadata = new V1ObjectMeta { Name = name, Labels = labels ?? new Dictionary<string, string> { ["app"] = name } },
        Spec = new V1PodSpec
        {
            TerminationGracePeriodSeconds = terminationGracePeriodSeconds,
            Containers =
            [
                new V1Container
                {
                    Name = "echo",
                    Image = "waypoint/echo",
                    Args = ["--http-port", "8080"],
                    Env =
                    [
                        new V1EnvVar { Name = "POD_NAME", ValueFrom = new V1EnvVarSource { FieldRef = new V1ObjectFieldSelector { FieldPath = "metadata.name" } } },
                        new V1EnvVar { Name = "POD_NAMESPACE", ValueFrom = new V1EnvVarSource { FieldRef = new V1ObjectFieldSelector { FieldPath = "metadata.namespace" } } },
                    ],
                    Ports = [new V1ContainerPort { ContainerPort = 8080, Name = "http" }],
                    ReadinessProbe = new V1Probe { HttpGet = new V1HTTPGetAction { Path = "/ready", Port = 8080 }, PeriodSeconds = 1 },
                },
            ],
        },
    };

    /// <summary>Creates a pod in <c>default</c>, retrying while the ServiceAccount admission still refuses it (no <c>default</c> SA yet).</summary>
    public static async Task CreateAsync(Kubernetes client, V1Pod pod)
    {
        Assert.True(await Eventually(async () =>
        {
            try
            {
                await client.CoreV1.CreateNamespacedPodAsync(pod, "default");
                return true;
            }
            catch (HttpOperationException ex) when (ex.Response.StatusCode == HttpStatusCode.Forbidden)
            {
                return false;
            }
        }), $"pod {pod.Metadata.Name} was never admitted");
    }

    public static async Task<V1Pod> WaitForAsync(Kubernetes client, string name, Func<V1Pod, bool> condition)
    {
        V1Pod? pod = null;
        var reached = await Eventually(async () => condition(pod = await client.CoreV1.ReadNamespacedPodAsync(name, "default")), attempts: 600);
        Assert.True(reached, $"pod {name} never reached the expected state; last status: {KubernetesJson.Serialize(pod?.Status)}");
        return pod!;
    }

    public static Task<V1Pod> WaitForReadyAsync(Kubernetes client, string name) =>
        WaitForAsync(client, name, p => p.Status?.Conditions?.Any(c => c.Type == "Ready" && c.Status == "True") == true);

    /// <summary>The container process of an echo pod, by the POD_NAME the kubelet put in its environment.</summary>
    public static int ContainerProcess(string podName)
    {
        var pid = FindContainerProcess(podName);
        Assert.True(pid is not null, $"no process carries POD_NAME={podName}");
        return pid.Value;
    }

    /// <summary>The container process of an echo pod, or null when none (yet, or any more) carries its POD_NAME.</summary>
    public static int? FindContainerProcess(string podName)
    {
        var wanted = $"POD_NAME={podName}";
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            try
            {
                if (File.ReadAllText(Path.Combine(directory, "environ")).Split('\0').Contains(wanted, StringComparer.Ordinal)
                    && File.ReadAllText(Path.Combine(directory, "cmdline")).Contains("echo", StringComparison.Ordinal))
                {
                    return pid;
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Gone meanwhile, or a kernel thread.
            }
        }

        return null;
    }

    /// <summary>Runs a host tool as if inside the pod: its network namespace and its container's mount namespace (its /etc/resolv.conf).</summary>
    public static Task<ToolResult> InPodAsync(int containerProcess, params string[] command) =>
        BoxTools.RunAsync("nsenter", [$"--target={containerProcess.ToString(CultureInfo.InvariantCulture)}", "--net", "--mount", "--", .. command]);

    /// <summary>Retries a condition reached asynchronously (pod status, EndpointSlices, the proxy's listeners). Bounded; not a timing assertion.</summary>
    public static async Task<bool> Eventually(Func<Task<bool>> condition, int attempts = 300)
    {
        for (var attempt = 0; attempt < attempts; attempt++)
        {
            if (await condition())
            {
                return true;
            }

            await Task.Delay(100);
        }

        return false;
    }
}
