using System.Globalization;
using System.Net;
using System.Text.Json;
using Waypoint.Node.Containers;

namespace Waypoint.Node.Networking;

/// <summary>The network of one pod sandbox: its namespace (a bind-mounted file), veth, address and route.</summary>
public sealed record PodNetworkAttachment(string NamespacePath, string HostInterface, IPAddress Address);

/// <summary>
/// Builds and tears down pod networks the way kind's CNI (ptp) and Calico do, in the network namespace the runtime
/// runs in (the box's): a persistent network namespace per sandbox (<c>unshare --net=FILE</c> under the runtime's
/// root, so it lives in the box's private mount namespace and dies with it), a veth pair <c>wp&lt;id&gt;</c> ⇄ pod
/// <c>eth0</c> carrying the pod IP as a /32, <c>lo</c> up, a default route via the link-local gateway 169.254.1.1 (a
/// permanent neighbour entry maps it to the box side of the veth, so no address or proxy ARP is needed there), and in
/// the box a /32 route to the pod IP through the veth. IP forwarding in the box lets pods reach each other.
/// </summary>
internal sealed class PodNetwork
{
    public static readonly IPAddress Gateway = IPAddress.Parse("169.254.1.1");

    private readonly string _namespaceDirectory;
    private readonly string _ip;
    private readonly string _unshare;
    private readonly string _nsenter;
    private readonly string _umount;

    public PodNetwork(string namespaceDirectory)
    {
        _namespaceDirectory = namespaceDirectory;
        _ip = CommandRunner.Locate("ip");
        _unshare = CommandRunner.Locate("unshare");
        _nsenter = CommandRunner.Locate("nsenter");
        _umount = CommandRunner.Locate("umount");
    }

    /// <summary>Turns on IPv4 forwarding in this (the box's) network namespace, so pod-to-pod traffic is routed.</summary>
    public static void EnableForwarding()
    {
        // /proc/sys/net belongs to the network namespace of the process that opens it: this is the box's setting.
        File.WriteAllText("/proc/sys/net/ipv4/ip_forward", "1\n");
    }

    /// <summary>The host-side interface name of a sandbox: <c>wp</c> and 11 characters of its id (IFNAMSIZ is 15).</summary>
    public static string InterfaceName(string sandboxId) => "wp" + sandboxId[..11];

    public async Task<PodNetworkAttachment> CreateAsync(string sandboxId, IPAddress address, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(_namespaceDirectory);
        var path = Path.Combine(_namespaceDirectory, sandboxId);
        var hostInterface = InterfaceName(sandboxId);
        var attachment = new PodNetworkAttachment(path, hostInterface, address);
        try
        {
            await File.WriteAllBytesAsync(path, [], cancellationToken).ConfigureAwait(false);
            await CommandRunner.RunAsync(_unshare, [$"--net={path}", "true"], cancellationToken).ConfigureAwait(false);
            await CommandRunner.RunAsync(_ip, ["link", "add", hostInterface, "type", "veth", "peer", "name", "eth0", "netns", path], cancellationToken).ConfigureAwait(false);
            var hostMac = await MacAddressAsync(null, hostInterface, cancellationToken).ConfigureAwait(false);
            var podMac = await MacAddressAsync(path, "eth0", cancellationToken).ConfigureAwait(false);
            var pod = address.ToString();
            var gateway = Gateway.ToString();
            await InPodAsync(path, ["link", "set", "lo", "up"], cancellationToken).ConfigureAwait(false);
            await InPodAsync(path, ["addr", "add", $"{pod}/32", "dev", "eth0"], cancellationToken).ConfigureAwait(false);
            await InPodAsync(path, ["link", "set", "eth0", "up"], cancellationToken).ConfigureAwait(false);
            await InPodAsync(path, ["route", "add", gateway, "dev", "eth0", "scope", "link"], cancellationToken).ConfigureAwait(false);
            await InPodAsync(path, ["route", "add", "default", "via", gateway, "dev", "eth0"], cancellationToken).ConfigureAwait(false);
            await InPodAsync(path, ["neigh", "replace", gateway, "lladdr", hostMac, "dev", "eth0", "nud", "permanent"], cancellationToken).ConfigureAwait(false);
            await CommandRunner.RunAsync(_ip, ["link", "set", hostInterface, "up"], cancellationToken).ConfigureAwait(false);
            await CommandRunner.RunAsync(_ip, ["neigh", "replace", pod, "lladdr", podMac, "dev", hostInterface, "nud", "permanent"], cancellationToken).ConfigureAwait(false);
            await CommandRunner.RunAsync(_ip, ["route", "replace", $"{pod}/32", "dev", hostInterface, "scope", "link"], cancellationToken).ConfigureAwait(false);
            return attachment;
        }
        catch
        {
            await DeleteAsync(attachment, CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Removes the veth (and with it the route), unmounts and deletes the namespace file; missing parts are fine.</summary>
    public async Task DeleteAsync(PodNetworkAttachment attachment, CancellationToken cancellationToken)
    {
        await IgnoreFailureAsync(CommandRunner.RunAsync(_ip, ["link", "del", attachment.HostInterface], cancellationToken)).ConfigureAwait(false);
        await IgnoreFailureAsync(CommandRunner.RunAsync(_ip, ["route", "del", $"{attachment.Address}/32"], cancellationToken)).ConfigureAwait(false);
        await IgnoreFailureAsync(CommandRunner.RunAsync(_umount, [attachment.NamespacePath], cancellationToken)).ConfigureAwait(false);
        try
        {
            File.Delete(attachment.NamespacePath);
        }
        catch (IOException)
        {
            // Still mounted (a process of the pod holds it); the box's mount namespace drops it when the box stops.
        }
    }

    private Task<string> InPodAsync(string path, IReadOnlyList<string> arguments, CancellationToken cancellationToken) =>
        CommandRunner.RunAsync(_nsenter, [$"--net={path}", _ip, .. arguments], cancellationToken);

    private async Task<string> MacAddressAsync(string? namespacePath, string device, CancellationToken cancellationToken)
    {
        // /sys/class/net shows the namespace sysfs was mounted in, not ours: ask `ip -j` instead.
        IReadOnlyList<string> arguments = ["-j", "link", "show", "dev", device];
        var json = namespacePath is null
            ? await CommandRunner.RunAsync(_ip, arguments, cancellationToken).ConfigureAwait(false)
            : await InPodAsync(namespacePath, arguments, cancellationToken).ConfigureAwait(false);
        using var document = JsonDocument.Parse(json);
        return document.RootElement[0].GetProperty("address").GetString()
            ?? throw new NodeCommandException(string.Create(CultureInfo.InvariantCulture, $"`ip link show {device}` reported no MAC address."));
    }

    private static async Task IgnoreFailureAsync(Task task)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
        catch (NodeCommandException)
        {
            // Already gone.
        }
    }
}
