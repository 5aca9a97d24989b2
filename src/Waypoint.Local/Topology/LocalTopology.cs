using System.Net;
using Waypoint.Translator.Model;

namespace Waypoint.Local.Topology;

/// <summary>How the rig treats a port: HTTP (the echo app answers HTTP) or opaque TCP (line echo).</summary>
public enum LocalProtocol
{
    Http,
    Tcp,
}

/// <summary>A port a local pod serves.</summary>
public sealed record LocalPodPort(int Port, LocalProtocol Protocol);

/// <summary>A pod of the local mesh: an echo app on <see cref="Address"/> behind a destination HBONE terminator.</summary>
public sealed record LocalPod(
    string Name,
    string Namespace,
    IPAddress Address,
    string ServiceAccount,
    IReadOnlyDictionary<string, string> Labels,
    IReadOnlyList<LocalPodPort> Ports)
{
    public string Key => $"{Namespace}/{Name}";
}

/// <summary>A Service port with its target port resolved to a number.</summary>
public sealed record LocalServicePort(string? Name, int Port, int TargetPort, LocalProtocol Protocol);

/// <summary>A waypoint Gateway and the address and identity of its (single, local) pod.</summary>
public sealed record LocalWaypoint(string Name, string Namespace, IPAddress Address, string ServiceAccount)
{
    /// <summary>The node group of its Envoy (<c>node.cluster</c>): <c>&lt;name&gt;.&lt;namespace&gt;</c>.</summary>
    public string Key => $"{Name}.{Namespace}";
}

/// <summary>A Service of the local mesh: its VIP, ports, selected pods and, when bound, its waypoint.</summary>
public sealed record LocalService(
    string Name,
    string Namespace,
    IPAddress Address,
    IReadOnlyList<LocalServicePort> Ports,
    IReadOnlyList<LocalPod> Pods,
    LocalWaypoint? Waypoint)
{
    public string Hostname => $"{Name}.{Namespace}.svc.cluster.local";
}

/// <summary>
/// The whole local mesh computed from a directory of Kubernetes YAML: pods (from Pods and Deployments) with
/// addresses, Services with VIPs and waypoint bindings, and the <see cref="ClusterSnapshot"/> handed to the
/// translator (with VIPs, pod IPs, EndpointSlices and Gateway addresses filled in as a cluster would).
/// </summary>
/// <remarks>Immutable once built; a configuration change builds a new one.</remarks>
public sealed record LocalTopology
{
    public required IReadOnlyList<LocalPod> Pods { get; init; }

    public required IReadOnlyList<LocalService> Services { get; init; }

    public required IReadOnlyList<LocalWaypoint> Waypoints { get; init; }

    public required ClusterSnapshot Snapshot { get; init; }

    /// <summary>Documents that could not be read (invalid YAML, unknown fields of the wrong type, no name).</summary>
    public IReadOnlyList<string> Errors { get; init; } = [];

    /// <summary>Problems that dropped an object or part of one, each naming the object; the rest still applies.</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];

    /// <summary>Documents of kinds the rig does not read.</summary>
    public IReadOnlyList<string> Ignored { get; init; } = [];

    public string TrustDomain { get; init; } = "cluster.local";

    public LocalService? FindService(string name, string @namespace) =>
        Services.FirstOrDefault(s => s.Name == name && s.Namespace == @namespace);

    /// <summary>Resolves <c>svc</c>, <c>svc.ns</c>, <c>svc.ns.svc</c>, <c>svc.ns.svc.cluster.local</c> or a VIP.</summary>
    public LocalService? ResolveHost(string host, string defaultNamespace = "default")
    {
        ArgumentNullException.ThrowIfNull(host);
        if (IPAddress.TryParse(host, out var ip))
        {
            return Services.FirstOrDefault(s => s.Address.Equals(ip));
        }

        var labels = host.TrimEnd('.').Split('.');
        return labels.Length switch
        {
            1 => FindService(labels[0], defaultNamespace),
            _ when labels.Length == 2 || (labels.Length >= 3 && labels[2] == "svc") => FindService(labels[0], labels[1]),
            _ => null,
        };
    }

    /// <summary>The SPIFFE identity of a service account.</summary>
    public string SpiffeId(string @namespace, string serviceAccount) => $"spiffe://{TrustDomain}/ns/{@namespace}/sa/{serviceAccount}";
}
