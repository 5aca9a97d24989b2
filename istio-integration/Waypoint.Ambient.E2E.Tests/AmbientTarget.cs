using Waypoint.Box.Assets;

namespace Waypoint.Ambient.E2E.Tests;

/// <summary>Where the suite runs: the cluster of WAYPOINT_E2E_KUBECONFIG (kind), else a box of our own, else nowhere.</summary>
public enum AmbientTargetKind
{
    Kubeconfig,
    Box,
    None,
}

/// <summary>
/// Picks the cluster once per run. A kubeconfig given wins (<c>make e2e-kind</c>). Without one, the box runs when its
/// Kubernetes binaries are present (the same detection as every box test: <see cref="KubernetesAssets.Locate"/>).
/// With neither the suite is skipped — except under <c>CI=true</c>, where it must run and fails instead, saying why.
/// </summary>
public static class AmbientTarget
{
    public const string KubeconfigVariable = "WAYPOINT_E2E_KUBECONFIG";

    private static readonly Lazy<(AmbientTargetKind Kind, string Detail)> s_target = new(Detect);

    public static AmbientTargetKind Kind => s_target.Value.Kind;

    /// <summary>The kubeconfig path (Kubeconfig), or why no box can run (None).</summary>
    public static string Detail => s_target.Value.Detail;

    public static bool InCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>Why the suite cannot run here, for a skip (outside CI) or a failure (CI).</summary>
    public static string NoClusterMessage =>
        $"The ambient suite needs a cluster: set {KubeconfigVariable} (`make e2e-kind`) or install the box's Kubernetes binaries ({Detail}).";

    private static (AmbientTargetKind, string) Detect()
    {
        if (Environment.GetEnvironmentVariable(KubeconfigVariable) is { Length: > 0 } kubeconfig)
        {
            return (AmbientTargetKind.Kubeconfig, kubeconfig);
        }

        try
        {
            _ = KubernetesAssets.Locate();
            return (AmbientTargetKind.Box, "the box");
        }
        catch (KubernetesAssetsNotFoundException ex)
        {
            return (AmbientTargetKind.None, ex.Message);
        }
    }
}

/// <summary>A test of the ambient suite: skipped only when no cluster can exist here and CI is not set.</summary>
public sealed class AmbientFactAttribute : FactAttribute
{
    public AmbientFactAttribute()
    {
        if (AmbientTarget.Kind == AmbientTargetKind.None && !AmbientTarget.InCi)
        {
            Skip = AmbientTarget.NoClusterMessage;
        }
    }
}
