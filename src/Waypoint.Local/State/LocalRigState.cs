using System.Text.Json;
using Waypoint.Local.Topology;

namespace Waypoint.Local.State;

/// <summary>What a running rig publishes about itself (the state file read by <c>waypoint local curl</c>).</summary>
public sealed record LocalRigState
{
    public static JsonSerializerOptions JsonOptions { get; } = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public int ProcessId { get; init; }

    public string ConfigDirectory { get; init; } = string.Empty;

    public DateTimeOffset UpdatedAt { get; init; }

    public IReadOnlyList<ServiceState> Services { get; init; } = [];

    public IReadOnlyList<WaypointState> Waypoints { get; init; } = [];

    /// <summary>The Service whose hostname (any of its short forms) or VIP is <paramref name="host"/>.</summary>
    public ServiceState? Resolve(string host, string defaultNamespace = "default")
    {
        ArgumentNullException.ThrowIfNull(host);
        var labels = host.TrimEnd('.').Split('.');
        return Services.FirstOrDefault(s => s.Address == host)
            ?? (labels.Length == 1 ? Services.FirstOrDefault(s => s.Name == labels[0] && s.Namespace == defaultNamespace)
            : labels.Length == 2 || labels[2] == "svc" ? Services.FirstOrDefault(s => s.Name == labels[0] && s.Namespace == labels[1])
            : null);
    }

    public static LocalRigState From(LocalTopology topology, string configDirectory, IReadOnlyDictionary<string, Uri> waypointAdmins) => new()
    {
        ProcessId = Environment.ProcessId,
        ConfigDirectory = configDirectory,
        UpdatedAt = DateTimeOffset.UtcNow,
        Services = topology.Services.Select(s => new ServiceState
        {
            Name = s.Name,
            Namespace = s.Namespace,
            Hostname = s.Hostname,
            Address = s.Address.ToString(),
            Ports = s.Ports.Select(p => p.Port).ToArray(),
            Waypoint = s.Waypoint?.Key,
        }).ToArray(),
        Waypoints = topology.Waypoints.Select(w => new WaypointState
        {
            Key = w.Key,
            Address = w.Address.ToString(),
            Admin = waypointAdmins.TryGetValue(w.Key, out var admin) ? admin.ToString() : null,
        }).ToArray(),
    };

    public static LocalRigState? TryRead(string path)
    {
        try
        {
            return JsonSerializer.Deserialize<LocalRigState>(File.ReadAllText(path), JsonOptions);
        }
        catch (Exception ex) when (ex is IOException or JsonException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    public void Write(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var temporary = path + ".tmp";
        File.WriteAllText(temporary, JsonSerializer.Serialize(this, JsonOptions));
        File.Move(temporary, path, overwrite: true);
    }
}

public sealed record ServiceState
{
    public string Name { get; init; } = string.Empty;

    public string Namespace { get; init; } = string.Empty;

    public string Hostname { get; init; } = string.Empty;

    public string Address { get; init; } = string.Empty;

    public IReadOnlyList<int> Ports { get; init; } = [];

    public string? Waypoint { get; init; }
}

public sealed record WaypointState
{
    public string Key { get; init; } = string.Empty;

    public string Address { get; init; } = string.Empty;

    public string? Admin { get; init; }
}
