using System.CommandLine;
using System.Runtime.Versioning;
using Microsoft.Extensions.Logging;
using Waypoint.Box;
using Waypoint.Box.Network;
using Waypoint.Box.Product;
using Waypoint.Local.Envoy;
using Waypoint.Node.Images;
using Waypoint.Ztunnel.Hosting;

namespace Waypoint.Host.Commands;

/// <summary>
/// <c>waypoint box</c>: a real Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
/// istiod) and a node (the real kubelet on our process runtime) in a private network namespace, until SIGINT/SIGTERM. The command re-executes itself inside new
/// namespaces (<see cref="BoxLauncher"/>); the inner process runs the <see cref="KubernetesBox"/>.
/// </summary>
[SupportedOSPlatform("linux")]
internal sealed class BoxCommand : IWaypointCommand
{
    public Command Build()
    {
        var workDir = new Option<DirectoryInfo?>("--work-dir") { Description = "The box's private work folder (new or empty). Default: a new folder under the temp dir." };
        var keep = new Option<bool>("--keep") { Description = "Keep the work folder when the box stops." };
        var noIstiod = new Option<bool>("--no-istiod") { Description = "Do not run istiod." };
        var noNode = new Option<bool>("--no-node") { Description = "Do not run the node (the kubelet on the box's process runtime): no pods run." };
        var noZtunnel = new Option<bool>("--no-ztunnel") { Description = "Do not run the node's ztunnel (HBONE for ambient pods; it needs istiod, the node and Envoy)." };
        var stateFile = new Option<string>("--state-file") { Description = "Where the running box describes itself (for attaching).", DefaultValueFactory = _ => BoxOptions.DefaultStateFile };
        var componentArgs = new Option<string[]>("--component-arg") { Description = "An extra flag for one component, NAME=FLAG (e.g. kube-apiserver=--v=4); repeatable." };
        var install = new Option<DirectoryInfo?>("--install")
        {
            Description = "Install the product from this folder of manifests (e.g. manifests/install) once the box is up, and wait until the controller Deployment is Available.",
        };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Log every step." };
        var command = new Command("box", "Run a real Kubernetes control plane, istiod and a node in a private network namespace until Ctrl-C or SIGTERM.")
        {
            workDir, keep, noIstiod, noNode, noZtunnel, stateFile, componentArgs, install, verbose,
        };
        command.SetAction(async (parseResult, invocationToken) =>
        {
            var output = parseResult.InvocationConfiguration.Output;
            var error = parseResult.InvocationConfiguration.Error;
            var extra = new Dictionary<string, List<string>>(StringComparer.Ordinal);
            foreach (var value in parseResult.GetValue(componentArgs) ?? [])
            {
                var equals = value.IndexOf('=', StringComparison.Ordinal);
                if (equals <= 0)
                {
                    error.WriteLine($"--component-arg '{value}' is not NAME=FLAG.");
                    return 2;
                }

                (extra.TryGetValue(value[..equals], out var list) ? list : extra[value[..equals]] = []).Add(value[(equals + 1)..]);
            }

            using var stop = CancellationTokenSource.CreateLinkedTokenSource(invocationToken);
            using var signals = ShutdownSignals.CancelOn(stop);

            if (!BoxLauncher.IsInside)
            {
                return await BoxRun.LaunchAsync(output, error, stop.Token).ConfigureAwait(false);
            }

            BoxLauncher.EnterOwnSession();
            using var loggerFactory = BoxRun.CreateLoggerFactory(parseResult.GetValue(verbose), LogLevel.Information);
            var envoy = EnvoyLocator.TryLocate();
            var ztunnel = !parseResult.GetValue(noZtunnel) && !parseResult.GetValue(noIstiod) && !parseResult.GetValue(noNode);
            if (ztunnel && envoy is null)
            {
                error.WriteLine("The node's ztunnel needs Envoy (ENVOY_BIN, ../shared/envoy/envoy or PATH); none was found. Pass --no-ztunnel to run without it.");
                return 2;
            }

            var options = new BoxOptions
            {
                WorkDirectory = parseResult.GetValue(workDir)?.FullName,
                KeepWorkDirectory = parseResult.GetValue(keep),
                Istiod = !parseResult.GetValue(noIstiod),
                Node = !parseResult.GetValue(noNode),
                NodeImages = ImageMap.Default(ImageMap.CurrentWaypointCommand(), envoy),
                Extensions = ztunnel ? [BoxZtunnel.Create(envoy!, loggerFactory)] : [],
                StateFile = Path.GetFullPath(parseResult.GetValue(stateFile)!),
                ExtraArguments = extra.ToDictionary(e => e.Key, e => (IReadOnlyList<string>)e.Value, StringComparer.Ordinal),
            };
            return await RunInsideAsync(options, parseResult.GetValue(install)?.FullName, loggerFactory, output, error, stop).ConfigureAwait(false);
        });
        return command;
    }

    private static async Task<int> RunInsideAsync(BoxOptions options, string? install, ILoggerFactory loggerFactory, TextWriter output, TextWriter error, CancellationTokenSource stop)
    {
        var (box, startExit) = await BoxRun.StartAsync(options, loggerFactory, error, stop.Token).ConfigureAwait(false);
        if (box is null)
        {
            return startExit;
        }

        var exitCode = 0;
        await using (box.ConfigureAwait(false))
        {
            if (install is not null && !await InstallAsync(box, install, loggerFactory, error, stop.Token).ConfigureAwait(false))
            {
                return stop.IsCancellationRequested ? 130 : 1;
            }

            PrintSummary(box, options.StateFile, output);
            exitCode = await BoxRun.WaitUntilStoppedAsync(box, "the box", output, error, stop.Token).ConfigureAwait(false);
        }

        output.WriteLine("The box stopped.");
        return exitCode;
    }

    /// <summary>The shipped manifests applied and the controller Available; false (the reason printed) otherwise.</summary>
    private static async Task<bool> InstallAsync(KubernetesBox box, string directory, ILoggerFactory loggerFactory, TextWriter error, CancellationToken cancellationToken)
    {
        try
        {
            await new ProductInstaller(box.AdminClient, loggerFactory.CreateLogger<ProductInstaller>())
                .InstallAsync(new ProductInstallOptions { ManifestDirectory = directory }, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (ProductInstallException ex)
        {
            error.WriteLine($"The product did not install: {ex.Message}");
            return false;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    private static void PrintSummary(KubernetesBox box, string stateFile, TextWriter output)
    {
        var state = box.State;
        var kubectl = box.Assets.Kubectl;
        var enter = BoxLauncher.ShellEntry(state.NamespaceMode != nameof(BoxNamespaceMode.Root), state.UnshareProcessId, state.NetworkNamespacePath);
        output.WriteLine();
        output.WriteLine($"  API server         {state.ApiServerUrl} (inside the box's network namespace)");
        output.WriteLine($"  admin kubeconfig   {state.AdminKubeconfigPath}");
        output.WriteLine($"  network namespace  {state.NetworkNamespacePath} ({state.NamespaceMode})");
        output.WriteLine($"  work directory     {state.WorkDirectory}");
        output.WriteLine($"  state file         {stateFile}");
        foreach (var component in state.Components)
        {
            output.WriteLine($"  {component.Name,-18} pid {component.ProcessId}, log {component.LogPath}");
        }

        if (state.Node is { } node)
        {
            output.WriteLine($"  {"kubelet",-18} pid {node.KubeletProcessId}, log {node.KubeletLogPath} (Node {node.Name})");
        }

        output.WriteLine();
        output.WriteLine("Try:");
        output.WriteLine($"  {enter} {kubectl} --kubeconfig {state.AdminKubeconfigPath} get pods -A");
        output.WriteLine($"  {enter} {kubectl} --kubeconfig {state.AdminKubeconfigPath} get gatewayclasses");
        output.WriteLine(KubernetesBox.ReadyLine + " Ctrl-C or SIGTERM stops it.");
        output.Flush();
    }
}
