namespace Waypoint.Box.Assets;

/// <summary>
/// The real Kubernetes binaries (envtest <c>KUBEBUILDER_ASSETS</c> layout: <c>etcd</c>, <c>kube-apiserver</c>,
/// <c>kube-controller-manager</c>, <c>kube-scheduler</c>, <c>kubectl</c>, <c>kubelet</c>, <c>helm</c>,
/// <c>pilot-discovery</c> side by side) and the CRD folders a box installs.
/// </summary>
public sealed record KubernetesAssets
{
    /// <summary>Folder of the binaries; overrides everything else when set.</summary>
    public const string AssetsVariable = "WAYPOINT_K8S_ASSETS";

    /// <summary>Folder of the third-party CRDs (its <c>gateway-api</c> and <c>istio</c> subfolders, or YAML files directly).</summary>
    public const string CrdsVariable = "WAYPOINT_K8S_CRDS";

    /// <summary>What a user should do when the binaries are missing.</summary>
    public const string InstallHint =
        "Set " + AssetsVariable + " to a folder holding etcd, kube-apiserver, kube-controller-manager, kube-scheduler, " +
        "kubectl, kubelet and pilot-discovery side by side (the envtest KUBEBUILDER_ASSETS layout, e.g. from " +
        "`setup-envtest use -p path` plus istio's pilot-discovery), or check out the repository beside ../shared/k8s " +
        "(its `unpack` script prints such a folder).";

    private static readonly string[] ThirdPartyCrdFolders = ["gateway-api", "istio"];

    private static readonly string[] RequiredBinaries =
        ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "pilot-discovery"];

    public required string BinDirectory { get; init; }

    /// <summary>Folders (or files) of CRD YAML applied before the controllers start: Gateway API, Istio, ours.</summary>
    public required IReadOnlyList<string> CrdPaths { get; init; }

    /// <summary>The repository root (the folder holding Waypoint.sln), when running from a checkout.</summary>
    public string? RepositoryRoot { get; init; }

    public string Etcd => Binary("etcd");

    public string KubeApiServer => Binary("kube-apiserver");

    public string KubeControllerManager => Binary("kube-controller-manager");

    public string KubeScheduler => Binary("kube-scheduler");

    public string Kubectl => Binary("kubectl");

    public string Kubelet => Binary("kubelet");

    public string Helm => Binary("helm");

    public string PilotDiscovery => Binary("pilot-discovery");

    /// <summary>The path of a binary in <see cref="BinDirectory"/> (whether or not it exists).</summary>
    public string Binary(string name) => Path.Combine(BinDirectory, name);

    /// <summary>
    /// <c>WAYPOINT_K8S_ASSETS</c>, else the folder printed by <c>&lt;repo&gt;/../shared/k8s/unpack</c>; CRDs from
    /// <c>WAYPOINT_K8S_CRDS</c>, else <c>../shared/k8s/crds/{gateway-api,istio}</c>, plus the repository's
    /// <c>manifests/crds</c>. Throws <see cref="KubernetesAssetsNotFoundException"/> saying how to get them.
    /// </summary>
    public static KubernetesAssets Locate()
    {
        var repositoryRoot = FindRepositoryRoot();
        var shared = repositoryRoot is null ? null : Path.GetFullPath(Path.Combine(repositoryRoot, "..", "shared", "k8s"));
        var binDirectory = LocateBinaries(shared);
        var missing = RequiredBinaries.Where(b => !File.Exists(Path.Combine(binDirectory, b))).ToList();
        if (missing.Count > 0)
        {
            throw new KubernetesAssetsNotFoundException(
                $"The Kubernetes assets folder '{binDirectory}' lacks {string.Join(", ", missing)}. " + InstallHint);
        }

        return new KubernetesAssets
        {
            BinDirectory = binDirectory,
            CrdPaths = LocateCrds(shared, repositoryRoot),
            RepositoryRoot = repositoryRoot,
        };
    }

    /// <summary>The nearest ancestor of the executable's folder or the current directory holding Waypoint.sln.</summary>
    public static string? FindRepositoryRoot()
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Waypoint.sln")))
                {
                    return dir.FullName;
                }
            }
        }

        return null;
    }

    private static string LocateBinaries(string? shared)
    {
        var fromEnv = Environment.GetEnvironmentVariable(AssetsVariable);
        if (!string.IsNullOrEmpty(fromEnv))
        {
            return Directory.Exists(fromEnv)
                ? Path.GetFullPath(fromEnv)
                : throw new KubernetesAssetsNotFoundException($"{AssetsVariable} is set to '{fromEnv}', which is not a folder. " + InstallHint);
        }

        var unpack = shared is null ? null : Path.Combine(shared, "unpack");
        if (unpack is null || !File.Exists(unpack))
        {
            throw new KubernetesAssetsNotFoundException(
                $"The Kubernetes binaries were not found ({AssetsVariable} is unset and no ../shared/k8s/unpack is beside a Waypoint checkout). " + InstallHint);
        }

        return RunUnpack(unpack);
    }

    private static string RunUnpack(string unpack)
    {
        var startInfo = new System.Diagnostics.ProcessStartInfo(unpack)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = System.Diagnostics.Process.Start(startInfo)
            ?? throw new KubernetesAssetsNotFoundException($"Could not run {unpack}. " + InstallHint);
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new KubernetesAssetsNotFoundException(
                $"{unpack} failed with exit code {process.ExitCode}: {stderr.GetAwaiter().GetResult().Trim()} " + InstallHint);
        }

        var folder = stdout.Trim().Split('\n').LastOrDefault()?.Trim();
        return !string.IsNullOrEmpty(folder) && Directory.Exists(folder)
            ? folder
            : throw new KubernetesAssetsNotFoundException($"{unpack} printed '{stdout.Trim()}', which is not a folder. " + InstallHint);
    }

    private static List<string> LocateCrds(string? shared, string? repositoryRoot)
    {
        var paths = new List<string>();
        var fromEnv = Environment.GetEnvironmentVariable(CrdsVariable);
        var thirdParty = !string.IsNullOrEmpty(fromEnv) ? Path.GetFullPath(fromEnv) : shared is null ? null : Path.Combine(shared, "crds");
        if (thirdParty is null || !Directory.Exists(thirdParty))
        {
            throw new KubernetesAssetsNotFoundException(!string.IsNullOrEmpty(fromEnv)
                ? $"{CrdsVariable} is set to '{fromEnv}', which is not a folder."
                : $"The Gateway API and Istio CRDs were not found: set {CrdsVariable} to a folder with gateway-api/ and istio/ " +
                  "subfolders of CRD YAML (Gateway API experimental channel, Istio's crd-all.gen.yaml), or check out the repository beside ../shared/k8s.");
        }

        // The inference extension's CRDs are there for AI-traffic work; the box does not need them.
        var subfolders = ThirdPartyCrdFolders.Select(s => Path.Combine(thirdParty, s)).Where(Directory.Exists).ToList();
        paths.AddRange(subfolders.Count > 0 ? subfolders : [thirdParty]);
        if (repositoryRoot is not null && Directory.Exists(Path.Combine(repositoryRoot, "manifests", "crds")))
        {
            paths.Add(Path.Combine(repositoryRoot, "manifests", "crds"));
        }

        return paths;
    }
}

/// <summary>The Kubernetes binaries or CRDs could not be found; the message says how to get them.</summary>
public sealed class KubernetesAssetsNotFoundException : Exception
{
    public KubernetesAssetsNotFoundException()
    {
    }

    public KubernetesAssetsNotFoundException(string message)
        : base(message)
    {
    }

    public KubernetesAssetsNotFoundException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
