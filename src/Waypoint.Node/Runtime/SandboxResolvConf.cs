using System.Text;
using Waypoint.Node.Cri.V1;

namespace Waypoint.Node.Runtime;

/// <summary>
/// A sandbox's <c>/etc/resolv.conf</c>, from the DNS config the kubelet computed for the pod (its DNS policy:
/// ClusterFirst gives the cluster DNS server, the search path <c>&lt;ns&gt;.svc.&lt;domain&gt; svc.&lt;domain&gt; &lt;domain&gt;</c>
/// and <c>ndots:5</c>). An empty config (the kubelet passes none, e.g. policy Default with no host resolv.conf) means
/// no file: the container keeps the node's.
/// </summary>
internal static class SandboxResolvConf
{
    public const string ContainerPath = "/etc/resolv.conf";

    /// <summary>The file's text, or null when the kubelet asked for nothing.</summary>
    public static string? Render(DnsConfig? config)
    {
        if (config is null || (config.Servers.Count == 0 && config.Searches.Count == 0 && config.Options.Count == 0))
        {
            return null;
        }

        var text = new StringBuilder();
        if (config.Searches.Count > 0)
        {
            text.Append("search ").AppendJoin(' ', config.Searches).Append('\n');
        }

        foreach (var server in config.Servers)
        {
            text.Append("nameserver ").Append(server).Append('\n');
        }

        if (config.Options.Count > 0)
        {
            text.Append("options ").AppendJoin(' ', config.Options).Append('\n');
        }

        return text.ToString();
    }
}
