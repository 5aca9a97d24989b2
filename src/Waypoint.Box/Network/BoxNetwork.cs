using System.Diagnostics;
using System.Net;

namespace Waypoint.Box.Network;

/// <summary>
/// The addresses of the box's private network namespace and its one-time set-up: <c>lo</c> up, the Service VIP
/// range local to <c>lo</c>, the node IP on <c>lo</c>. Pod IPs are not made local: each pod gets a network namespace
/// of its own with a veth pair, and a route per pod is added in the box's namespace by the node.
/// </summary>
public static class BoxNetwork
{
    /// <summary>kube-apiserver <c>--service-cluster-ip-range</c> (kind's default); every VIP in it is local to <c>lo</c>.</summary>
    public const string ServiceCidr = "10.96.0.0/16";

    /// <summary>The pod range (kind's default), for the node's IP allocation; no route is added for it here.</summary>
    public const string PodCidr = "10.244.0.0/16";

    /// <summary>The node's IP, an address on <c>lo</c> (the kubelet needs its node IP on an interface).</summary>
    public static readonly IPAddress NodeIp = IPAddress.Parse("10.244.0.2");

    /// <summary>The ClusterIP of the <c>kubernetes</c> Service (first address of <see cref="ServiceCidr"/>).</summary>
    public static readonly IPAddress KubernetesServiceIp = IPAddress.Parse("10.96.0.1");

    /// <summary>The ClusterIP of the <c>kube-dns</c> Service, where the box's cluster DNS listens (the kubelet's <c>clusterDNS</c>).</summary>
    public static readonly IPAddress ClusterDnsIp = IPAddress.Parse("10.96.0.10");

    /// <summary>
    /// Sets up the namespace this process runs in. Refuses unless this is the re-executed box process
    /// (<see cref="BoxLauncher.IsInside"/>) in a network namespace other than init's, so it never touches the host's.
    /// </summary>
    public static async Task SetUpAsync(CancellationToken cancellationToken)
    {
        if (!BoxLauncher.IsInside)
        {
            throw new InvalidOperationException($"BoxNetwork.SetUpAsync runs only inside the box's network namespace ({BoxLauncher.InsideVariable}=1, started by BoxLauncher).");
        }

        if (IsHostNetworkNamespace())
        {
            throw new InvalidOperationException("This process is in the host's network namespace; refusing to add addresses or routes.");
        }

        // One `ip` process for the three changes: on a loaded machine each process start is a visible part of the box's start.
        await RunIpBatchAsync(["link set lo up", $"route add local {ServiceCidr} dev lo", $"addr add {NodeIp}/32 dev lo"], cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The <c>net:[inode]</c> identity of a process's network namespace, or null when unreadable.</summary>
    public static string? NetworkNamespaceOf(int pid) => NetworkNamespaceOf($"/proc/{pid}/ns/net");

    internal static string? NetworkNamespaceOf(string nsPath)
    {
        try
        {
            return new FileInfo(nsPath).LinkTarget;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static bool IsHostNetworkNamespace()
    {
        var own = NetworkNamespaceOf("/proc/self/ns/net");
        var init = NetworkNamespaceOf("/proc/1/ns/net");
        return own is null || (init is not null && own == init);
    }

    /// <summary><c>ip -batch -</c>: the commands in order, stopping at the first that fails (its message names it).</summary>
    private static async Task RunIpBatchAsync(string[] commands, CancellationToken cancellationToken)
    {
        var startInfo = new ProcessStartInfo("ip") { RedirectStandardInput = true, RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        startInfo.ArgumentList.Add("-batch");
        startInfo.ArgumentList.Add("-");
        using var process = Process.Start(startInfo) ?? throw new InvalidOperationException("Could not start `ip` (iproute2).");
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.StandardInput.WriteAsync(string.Join('\n', commands) + "\n").ConfigureAwait(false);
        process.StandardInput.Close();
        await process.StandardOutput.ReadToEndAsync(cancellationToken).ConfigureAwait(false);
        await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"`ip -batch -` ({string.Join("; ", commands)}) failed (exit code {process.ExitCode}): {(await stderr.ConfigureAwait(false)).Trim()}");
        }
    }
}
