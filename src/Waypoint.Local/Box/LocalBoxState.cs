using System.Text.Json;
using System.Text.Json.Serialization;

namespace Waypoint.Local.Box;

/// <summary>A running pod of the box and the network namespace file its sandbox holds (inside the box's mount namespace).</summary>
public sealed record LocalBoxPod(string Namespace, string Name, string Address, string NetworkNamespacePath);

/// <summary>A Service as the API server has it: its ClusterIP, ports and the waypoint it uses (null: none).</summary>
public sealed record LocalBoxService(string Namespace, string Name, string? ClusterIp, IReadOnlyList<int> Ports, string? Waypoint)
{
    public string Hostname => $"{Name}.{Namespace}.svc.cluster.local";
}

/// <summary>A waypoint Gateway as the API server has it: the addresses and Programmed condition the controller wrote.</summary>
public sealed record LocalBoxWaypoint(string Namespace, string Name, IReadOnlyList<string> Addresses, bool Programmed);

/// <summary>
/// What <c>waypoint local</c> writes to its state file for <c>waypoint local curl</c> / <c>exec</c>: the box (network
/// and mount namespaces, kubeconfig), the client pod it made, and the pods, Services and waypoints the cluster has
/// (refreshed while it runs, so objects applied with kubectl are there too).
/// </summary>
public sealed record LocalBoxState
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    public required string ConfigDirectory { get; init; }

    /// <summary>The box's own state file (<c>Waypoint.Box.BoxState</c>).</summary>
    public required string BoxStateFile { get; init; }

    public required string WorkDirectory { get; init; }

    /// <summary><c>/proc/&lt;unshare pid&gt;/ns/net</c>: the box's network namespace, for <c>nsenter --net=</c>.</summary>
    public required string NetworkNamespacePath { get; init; }

    /// <summary><c>/proc/&lt;unshare pid&gt;/ns/mnt</c>: the box's mount namespace, where the pods' namespace files are mounted.</summary>
    public required string MountNamespacePath { get; init; }

    public required int UnshareProcessId { get; init; }

    /// <summary>Root, or UserNamespace (then entering needs <c>nsenter --user</c> too).</summary>
    public required string NamespaceMode { get; init; }

    public required string ApiServerUrl { get; init; }

    public required string Kubeconfig { get; init; }

    public required string Kubectl { get; init; }

    /// <summary><c>namespace/name</c> of the ambient client pod <c>waypoint local curl</c> sends from by default.</summary>
    public required string ClientPod { get; init; }

    public IReadOnlyList<LocalBoxPod> Pods { get; init; } = [];

    public IReadOnlyList<LocalBoxService> Services { get; init; } = [];

    public IReadOnlyList<LocalBoxWaypoint> Waypoints { get; init; } = [];

    public bool UserNamespace => NamespaceMode == "UserNamespace";

    public LocalBoxPod? FindPod(string namespaceAndName)
    {
        var slash = namespaceAndName.IndexOf('/', StringComparison.Ordinal);
        var (ns, name) = slash < 0 ? ("default", namespaceAndName) : (namespaceAndName[..slash], namespaceAndName[(slash + 1)..]);
        return Pods.FirstOrDefault(p => p.Namespace == ns && p.Name == name);
    }

    /// <summary>The Service a host name means (FQDN, <c>name.ns.svc</c>, <c>name.ns</c>), or null.</summary>
    public LocalBoxService? ResolveService(string host)
    {
        var name = host.TrimEnd('.');
        return Services.FirstOrDefault(s => string.Equals(name, s.Hostname, StringComparison.OrdinalIgnoreCase)
            || string.Equals(name, $"{s.Name}.{s.Namespace}.svc", StringComparison.OrdinalIgnoreCase)
            || string.Equals(name, $"{s.Name}.{s.Namespace}", StringComparison.OrdinalIgnoreCase));
    }

    public static LocalBoxState? TryRead(string path)
    {
        try
        {
            return JsonSerializer.Deserialize<LocalBoxState>(File.ReadAllText(path), Json);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException)
        {
            return null;
        }
    }

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Writes atomically (a reader never sees half a file).</summary>
    public void Write(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var temporary = path + ".tmp";
        File.WriteAllText(temporary, ToJson());
        File.Move(temporary, path, overwrite: true);
    }
}
