namespace Waypoint.Local;

/// <summary>Settings of a <see cref="LocalRig"/>.</summary>
public sealed record LocalRigOptions
{
    /// <summary>The directory of Kubernetes YAML the rig reads (and, with <see cref="Watch"/>, follows).</summary>
    public required string ConfigDirectory { get; init; }

    public string TrustDomain { get; init; } = "cluster.local";

    /// <summary>Re-read the directory when a file changes.</summary>
    public bool Watch { get; init; }

    /// <summary>How long the watcher waits for edits to settle before reloading.</summary>
    public TimeSpan WatchDebounce { get; init; } = TimeSpan.FromMilliseconds(150);

    /// <summary>Where the running rig describes itself for <c>waypoint local curl</c>; null writes none.</summary>
    public string? StateFile { get; init; }

    /// <summary>Envoy executable; located by <see cref="Envoy.EnvoyLocator"/> when null.</summary>
    public string? EnvoyBinary { get; init; }

    /// <summary>Envoy's log level (<c>-l</c>).</summary>
    public string EnvoyLogLevel { get; init; } = "warning";

    /// <summary>Namespace of the identity the client-side HBONE originator presents (ztunnel impersonates the source workload).</summary>
    public string ClientNamespace { get; init; } = "default";

    public string ClientServiceAccount { get; init; } = "local-client";

    /// <summary>Worker threads of each Envoy the rig runs.</summary>
    public int EnvoyConcurrency { get; init; } = 1;

    /// <summary>The default state file: <c>$XDG_RUNTIME_DIR/waypoint-local/state.json</c>, else <c>/tmp/waypoint-local/state.json</c>.</summary>
    public static string DefaultStateFile
    {
        get
        {
            var runtime = Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR");
            var root = string.IsNullOrEmpty(runtime) ? Path.GetTempPath() : runtime;
            return Path.Combine(root, "waypoint-local", "state.json");
        }
    }
}
