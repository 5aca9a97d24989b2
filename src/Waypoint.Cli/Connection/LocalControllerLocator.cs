using System.Runtime.Versioning;
using Waypoint.Box;
using Waypoint.Box.Network;
using Waypoint.Local.Box;

namespace Waypoint.Cli.Connection;

/// <summary>
/// <c>--local</c>: the controller pods of a running <c>waypoint local</c>, found in its state file. Each request is
/// made from inside the pod's own network namespace to 127.0.0.1:15021, a loopback connection, as a process in the
/// pod would (needs root, as <c>waypoint local curl</c> does).
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class LocalControllerLocator(string stateFile, string controllerNamespace, TimeSpan timeout) : IControllerLocator
{
    private const int DebugPort = ControllerReplica.DebugPort;
    private readonly List<IDisposable> _owned = [];

    public string Description => $"the controller pods of waypoint local (state file {stateFile})";

    public async Task<IReadOnlyList<ControllerReplica>> LocateAsync(CancellationToken cancellationToken)
    {
        var state = LocalBoxState.TryRead(stateFile)
            ?? throw new ControllerUnreachableException($"No waypoint local is running here: its state file {stateFile} cannot be read (start 'waypoint local DIR', or pass --state-file).");
        BoxState box;
        try
        {
            box = await BoxState.ReadAsync(state.BoxStateFile, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Text.Json.JsonException)
        {
            throw new ControllerUnreachableException($"waypoint local's box state {state.BoxStateFile} cannot be read: {ex.Message}", ex);
        }

        var pods = state.Pods.Where(p => p.Namespace == controllerNamespace && p.Name.StartsWith("waypoint-controller", StringComparison.Ordinal))
            .OrderBy(p => p.Name, StringComparer.Ordinal).ToList();
        if (pods.Count == 0)
        {
            throw new ControllerUnreachableException($"waypoint local (state file {stateFile}) lists no running controller pod in namespace {controllerNamespace}.");
        }

        var replicas = new List<ControllerReplica>();
        foreach (var pod in pods)
        {
            var path = box.OutsidePath(pod.NetworkNamespacePath);
            BoxNetworkNamespace network;
            try
            {
                network = new BoxNetworkNamespace(path);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                throw new ControllerUnreachableException($"Cannot enter the network namespace of controller pod {pod.Namespace}/{pod.Name} ({path}): {ex.Message} (run as root, like waypoint local).", ex);
            }

            _owned.Add(network);
            var http = network.CreateHttpClient();
            http.BaseAddress = new Uri($"http://127.0.0.1:{DebugPort}/");
            http.Timeout = timeout;
            replicas.Add(new ControllerReplica(pod.Name, $"pod {pod.Namespace}/{pod.Name} of waypoint local (127.0.0.1:{DebugPort} in its network namespace)", http));
        }

        _owned.AddRange(replicas);
        return replicas;
    }

    public void Dispose()
    {
        foreach (var owned in _owned)
        {
            owned.Dispose();
        }
    }
}
