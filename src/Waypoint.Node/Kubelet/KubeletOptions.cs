using System.Net;

namespace Waypoint.Node.Kubelet;

/// <summary>How to run the real kubelet against this node's CRI runtime (immutable once started).</summary>
public sealed record KubeletOptions
{
    /// <summary>The kubelet binary (from <c>../shared/k8s/unpack</c>'s folder, i.e. WAYPOINT_K8S_ASSETS).</summary>
    public required string KubeletPath { get; init; }

    /// <summary>The API server, e.g. <c>https://127.0.0.1:6443</c>.</summary>
    public required Uri ApiServer { get; init; }

    /// <summary>The cluster CA (PEM): verifies the API server, and client certificates calling the kubelet's port.</summary>
    public required string CaCertificatePath { get; init; }

    /// <summary>The kubelet's client certificate: <c>O=system:nodes, CN=system:node:&lt;NodeName&gt;</c>.</summary>
    public required string ClientCertificatePath { get; init; }

    public required string ClientKeyPath { get; init; }

    /// <summary>The kubelet's serving certificate for port 10250 (SAN: the node IP).</summary>
    public required string ServingCertificatePath { get; init; }

    public required string ServingKeyPath { get; init; }

    public required string NodeName { get; init; }

    /// <summary>The node IP; must be an address of an interface of the box (e.g. 10.244.0.2/32 on <c>lo</c>).</summary>
    public IPAddress NodeAddress { get; init; } = IPAddress.Parse("10.244.0.2");

    /// <summary>The kubelet's <c>--root-dir</c> (pods' volumes, plugins, checkpoints) and its config files.</summary>
    public required string RootDirectory { get; init; }

    /// <summary>The CRI endpoint, e.g. <c>unix:///box/node/cri.sock</c>.</summary>
    public required string RuntimeEndpoint { get; init; }

    public IPAddress ClusterDns { get; init; } = IPAddress.Parse("10.96.0.10");

    public string ClusterDomain { get; init; } = "cluster.local";

    public int Port { get; init; } = 10250;

    public int HealthzPort { get; init; } = 10248;

    /// <summary>
    /// Mount a tmpfs over <c>/var/log</c> (in the box's private mount namespace) before the kubelet starts: it makes
    /// <c>/var/log/containers</c> (log symlinks, a fixed path) and would otherwise create it on the host.
    /// </summary>
    public bool IsolateVarLog { get; init; } = true;

    /// <summary>Log verbosity of the kubelet (<c>--v</c>).</summary>
    public int Verbosity { get; init; } = 1;

    public IEnumerable<string> Validate()
    {
        foreach (var (name, path) in new[] { ("kubelet", KubeletPath), ("CA certificate", CaCertificatePath), ("client certificate", ClientCertificatePath), ("client key", ClientKeyPath), ("serving certificate", ServingCertificatePath), ("serving key", ServingKeyPath) })
        {
            if (string.IsNullOrEmpty(path) || !File.Exists(path))
            {
                yield return $"The {name} file '{path}' does not exist.";
            }
        }

        if (ApiServer is null || ApiServer.Scheme != Uri.UriSchemeHttps)
        {
            yield return $"The API server must be an https:// URL, not '{ApiServer}'.";
        }

        if (string.IsNullOrWhiteSpace(NodeName) || NodeName.Length > 63 || NodeName.Any(c => !(char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '-' or '.')))
        {
            yield return $"The node name '{NodeName}' is not a lowercase DNS name.";
        }

        if (string.IsNullOrWhiteSpace(RootDirectory) || !Path.IsPathFullyQualified(RootDirectory))
        {
            yield return $"The kubelet root directory must be absolute, not '{RootDirectory}'.";
        }

        if (string.IsNullOrEmpty(RuntimeEndpoint) || !RuntimeEndpoint.StartsWith("unix://", StringComparison.Ordinal))
        {
            yield return $"The runtime endpoint must be unix://PATH, not '{RuntimeEndpoint}'.";
        }
    }
}
