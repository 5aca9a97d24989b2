using Waypoint.Local.Envoy;

namespace Waypoint.TestKit.Envoy;

/// <summary>
/// The Envoy executable for tests, resolved exactly as the product resolves it (<see cref="EnvoyLocator"/>):
/// <c>ENVOY_BIN</c>, else <c>../shared/envoy/envoy</c> beside the repository, else <c>PATH</c>.
/// </summary>
public static class EnvoyBinary
{
    /// <summary>The resolved path; throws with install instructions when missing (tests needing Envoy never skip).</summary>
    public static string Locate() => EnvoyLocator.Locate();

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
}
