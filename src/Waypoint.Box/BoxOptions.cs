using Waypoint.Box.Assets;
using Waypoint.Node.Images;

namespace Waypoint.Box;

/// <summary>How to run a box.</summary>
public sealed record BoxOptions
{
    /// <summary>The private work folder (PKI, kubeconfigs, etcd data, logs). Default: a new folder under the temp dir.</summary>
    public string? WorkDirectory { get; init; }

    /// <summary>Keep the work folder when the box stops (it is always kept after a failed start: the error names its logs).</summary>
    public bool KeepWorkDirectory { get; init; }

    /// <summary>Run istiod (off for tests that need only the API server).</summary>
    public bool Istiod { get; init; } = true;

    /// <summary>Run the node: the real kubelet on the box's CRI runtime (containers as processes in pod network namespaces).</summary>
    public bool Node { get; init; } = true;

    /// <summary>The Node's name.</summary>
    public string NodeName { get; init; } = "box-node";

    /// <summary>Which images the node runs with which host executables; default <see cref="ImageMap.Default"/> for this process, without Envoy.</summary>
    public ImageMap? NodeImages { get; init; }

    /// <summary>
    /// Started in order once the node is Ready (e.g. the node's ztunnel, which the host wires); each is disposed
    /// before the node stops, in reverse order. A failed start fails the box like a component's.
    /// </summary>
    public IReadOnlyList<BoxExtension> Extensions { get; init; } = [];

    /// <summary>
    /// Run once the CRDs are established, beside istiod's start, with the admin client and the timeline usable (e.g.
    /// installing a product whose objects need the CRDs, as on a cluster whose control plane is still coming up: its
    /// pods then start as soon as the node and what they mount are there). The box is ready only once it completed;
    /// its failure fails the start like a component's.
    /// </summary>
    public Func<KubernetesBox, CancellationToken, Task>? AfterCrds { get; init; }

    /// <summary>Where the state file goes (<see cref="BoxState"/>), for a CLI or a test to attach.</summary>
    public string StateFile { get; init; } = DefaultStateFile;

    /// <summary>The binaries and CRDs; default <see cref="KubernetesAssets.Locate"/>.</summary>
    public KubernetesAssets? Assets { get; init; }

    /// <summary>Extra flags per component name (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, istiod), appended last.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> ExtraArguments { get; init; } = new Dictionary<string, IReadOnlyList<string>>();

    /// <summary>Where the box's own instruments (the kube-proxy role's) are created; default a private factory.</summary>
    public System.Diagnostics.Metrics.IMeterFactory? MeterFactory { get; init; }

    /// <summary>Where the start's milestones go; default one starting when this process (or its launcher) started.</summary>
    public BoxStartTimeline? Timeline { get; init; }

    /// <summary>How long each component may take to become ready.</summary>
    public TimeSpan ReadyTimeout { get; init; } = TimeSpan.FromSeconds(90);

    /// <summary>How long each component may take to exit after SIGTERM before it is killed.</summary>
    public TimeSpan StopTimeout { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary><c>$XDG_RUNTIME_DIR/waypoint-box/state.json</c>, else <c>/tmp/waypoint-box/state.json</c>.</summary>
    public static string DefaultStateFile
    {
        get
        {
            var runtime = Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR");
            return Path.Combine(string.IsNullOrEmpty(runtime) ? Path.Combine(Path.GetTempPath(), "waypoint-box") : Path.Combine(runtime, "waypoint-box"), "state.json");
        }
    }
}

/// <summary>Something the box hosts in its own process after the node (it needs the box's namespaces and PKI).</summary>
public sealed record BoxExtension(string Name, Func<KubernetesBox, CancellationToken, Task<IAsyncDisposable>> StartAsync);
