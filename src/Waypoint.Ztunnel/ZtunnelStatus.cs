using System.Text.Json;
using System.Text.Json.Serialization;
using Waypoint.Ztunnel.Mesh;

namespace Waypoint.Ztunnel;

/// <summary>What the ztunnel serves right now (<c>status.json</c>, rewritten with every config): for tests and people.</summary>
public sealed record ZtunnelStatus
{
    public static JsonSerializerOptions JsonOptions { get; } = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public long MeshRevision { get; init; }

    /// <summary>How many times the Envoy config files were replaced.</summary>
    public long ConfigGeneration { get; init; }

    public DateTimeOffset WrittenAt { get; init; }

    public IReadOnlyList<PodStatus> Pods { get; init; } = [];

    public IReadOnlyList<ServicePortStatus> Services { get; init; } = [];

    public IReadOnlyList<string> Identities { get; init; } = [];

    public static ZtunnelStatus From(NodeMeshModel served, IEnumerable<string> identities, long generation, DateTimeOffset now) => new()
    {
        MeshRevision = served.Revision,
        ConfigGeneration = generation,
        WrittenAt = now,
        Pods = [.. served.Pods.Select(p => new PodStatus(p.Namespace, p.Name, p.Address.ToString(), p.ServiceAccount.ToString(), p.NetworkNamespacePath, p.Captured))],
        Services = [.. served.Services.Select(s => new ServicePortStatus(s.Service, s.Vip.ToString(), s.Port, s.Waypoint?.Connect.ToString(), s.WaypointUnresolved, [.. s.Endpoints.Select(e => e.Authority)]))],
        Identities = [.. identities],
    };

    public static ZtunnelStatus Parse(string json) => JsonSerializer.Deserialize<ZtunnelStatus>(json, JsonOptions) ?? throw new JsonException("empty status");

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);
}

public sealed record PodStatus(string Namespace, string Name, string Address, string ServiceAccount, string NetworkNamespace, bool Captured);

public sealed record ServicePortStatus(string Service, string Vip, int Port, string? Waypoint, bool WaypointUnresolved, IReadOnlyList<string> Endpoints)
{
    [JsonIgnore]
    public string Key => $"{Service}:{Port}";
}
