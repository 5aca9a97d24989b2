using System.CommandLine;
using System.Diagnostics;
using System.Runtime.Versioning;
using Microsoft.Extensions.Logging;
using Waypoint.Box;
using Waypoint.Box.Assets;
using Waypoint.Box.Network;
using Waypoint.Box.Product;
using Waypoint.Local.Box;
using Waypoint.Local.Envoy;
using Waypoint.Node.Images;
using Waypoint.Ztunnel.Hosting;

namespace Waypoint.Host.Commands;

/// <summary>
/// <c>waypoint local &lt;dir&gt;</c>: a real cluster in a box (<c>waypoint box</c>'s code, re-executed under unshare) with
/// the product installed from the shipped manifests and the node's ztunnel, and the directory server-side applied and
/// followed. <c>waypoint local curl</c> / <c>exec</c> run a program in the ambient client pod's (or the box's) network namespace.
/// </summary>
[SupportedOSPlatform("linux")]
internal sealed class LocalCommand : IWaypointCommand
{
    public Command Build()
    {
        var directory = new Argument<DirectoryInfo>("directory") { Description = "Directory of Kubernetes YAML (Namespaces, ServiceAccounts, Services, Deployments, the waypoint Gateway, HTTPRoutes), server-side applied." };
        var install = new Option<DirectoryInfo?>("--install") { Description = "The product's manifests to install (default: manifests/install of this checkout)." };
        var stateFile = StateFileOption();
        var workDir = new Option<DirectoryInfo?>("--work-dir") { Description = "The box's private work folder (new or empty). Default: a new folder under the temp dir." };
        var keep = new Option<bool>("--keep") { Description = "Keep the box's work folder when it stops." };
        var noWatch = new Option<bool>("--no-watch") { Description = "Do not re-apply the directory when a file changes." };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Log every step." };

        var command = new Command("local", "Run the product in a real Kubernetes cluster in a box (control plane, istiod, a node, ztunnel) and apply a directory of YAML to it, following edits. Ctrl-C stops everything.")
        {
            directory, install, stateFile, workDir, keep, noWatch, verbose,
        };
        command.Subcommands.Add(BuildCurl());
        command.Subcommands.Add(BuildExec());
        command.SetAction(async (parseResult, invocationToken) =>
        {
            var output = parseResult.InvocationConfiguration.Output;
            var error = parseResult.InvocationConfiguration.Error;
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(invocationToken);
            using var signals = ShutdownSignals.CancelOn(stop);
            if (!BoxLauncher.IsInside)
            {
                return await BoxRun.LaunchAsync(output, error, stop.Token).ConfigureAwait(false);
            }

            BoxLauncher.EnterOwnSession();
            var config = parseResult.GetValue(directory)!.FullName;
            var manifests = parseResult.GetValue(install)?.FullName
                ?? (KubernetesAssets.FindRepositoryRoot() is { } root ? Path.Combine(root, "manifests", "install") : null);
            if (!Directory.Exists(config))
            {
                error.WriteLine($"{config} is not a directory.");
                return 2;
            }

            if (manifests is null || !Directory.Exists(manifests))
            {
                error.WriteLine($"The product's manifests were not found ({manifests ?? "no checkout found"}); pass --install <manifests/install>.");
                return 2;
            }

            var envoy = EnvoyLocator.TryLocate();
            if (envoy is null)
            {
                error.WriteLine("The waypoint pods and the node's ztunnel need Envoy (ENVOY_BIN, ../shared/envoy/envoy or PATH); none was found.");
                return 2;
            }

            using var loggerFactory = BoxRun.CreateLoggerFactory(parseResult.GetValue(verbose), LogLevel.Warning);
            var state = Path.GetFullPath(parseResult.GetValue(stateFile)!);
            var boxState = Path.Combine(Path.GetDirectoryName(state)!, "box.json");
            var meshOptions = new LocalMeshOptions
            {
                ConfigDirectory = config,
                InstallDirectory = manifests,
                StateFile = state,
                BoxStateFile = boxState,
                Watch = !parseResult.GetValue(noWatch),
                ProductApplied = true,
            };
            var boxOptions = new BoxOptions
            {
                WorkDirectory = parseResult.GetValue(workDir)?.FullName,
                KeepWorkDirectory = parseResult.GetValue(keep),
                NodeImages = ImageMap.Default(ImageMap.CurrentWaypointCommand(), envoy),
                Extensions = [BoxZtunnel.Create(envoy, loggerFactory)],
                StateFile = boxState,
                // The product needs only the API server and the CRDs: installed beside istiod's start, as on a cluster
                // whose control plane is still coming up (the client pod and the directory wait for the box's ztunnel).
                AfterCrds = (box, ct) => LocalMesh.ApplyProductAsync(box, meshOptions, output, loggerFactory, ct),
            };
            return await RunInsideAsync(boxOptions, meshOptions, loggerFactory, output, error, stop).ConfigureAwait(false);
        });
        return command;
    }

    private static Option<string> StateFileOption() => new("--state-file")
    {
        Description = "Where the running mesh describes the box, its pods and Services (read by `waypoint local curl` and `exec`).",
        DefaultValueFactory = _ => LocalMeshOptions.DefaultStateFile,
    };

    private static async Task<int> RunInsideAsync(BoxOptions boxOptions, LocalMeshOptions meshOptions, ILoggerFactory loggerFactory, TextWriter output, TextWriter error, CancellationTokenSource stop)
    {
        var started = Stopwatch.StartNew();
        var (box, startExit) = await BoxRun.StartAsync(boxOptions, loggerFactory, error, stop.Token).ConfigureAwait(false);
        if (box is null)
        {
            return startExit;
        }

        var exitCode = 0;
        await using (box.ConfigureAwait(false))
        {
            output.WriteLine($"The box is up ({started.Elapsed.TotalSeconds:0.0} s): API server, istiod, node {box.State.Node?.Name}, ztunnel.");
            LocalMesh mesh;
            try
            {
                mesh = await LocalMesh.StartAsync(box, meshOptions, output, loggerFactory, stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return 130;
            }
            catch (Exception ex) when (ex is ProductInstallException or LocalMeshException or HttpRequestException)
            {
                error.WriteLine($"waypoint local did not start: {ex.Message}");
                return 1;
            }

            await using (mesh.ConfigureAwait(false))
            {
                PrintSummary(mesh.State, meshOptions.StateFile, started.Elapsed, output);
                exitCode = await BoxRun.WaitUntilStoppedAsync(box, "the local mesh", output, error, stop.Token).ConfigureAwait(false);
            }
        }

        output.WriteLine("The local mesh stopped.");
        return exitCode;
    }

    private static void PrintSummary(LocalBoxState state, string stateFile, TimeSpan elapsed, TextWriter output)
    {
        var enter = LocalBoxEntry.ShellPrefix(state);
        output.WriteLine();
        output.WriteLine($"The local mesh is up ({elapsed.TotalSeconds:0.0} s).");
        output.WriteLine($"  kubeconfig         {state.Kubeconfig} (API server {state.ApiServerUrl}, inside the box's network namespace)");
        output.WriteLine($"  network namespace  {state.NetworkNamespacePath} ({state.NamespaceMode})");
        output.WriteLine($"  state file         {stateFile}");
        foreach (var waypoint in state.Waypoints)
        {
            output.WriteLine($"  waypoint {waypoint.Namespace}/{waypoint.Name}  {string.Join(',', waypoint.Addresses)}  {(waypoint.Programmed ? "Programmed" : "not Programmed")}");
        }

        foreach (var service in state.Services)
        {
            output.WriteLine($"  service  {service.Hostname}  {service.ClusterIp}:{string.Join(',', service.Ports)}  {(service.Waypoint is { } w ? $"via waypoint {w}" : "direct (no waypoint)")}");
        }

        output.WriteLine();
        output.WriteLine("From the host:");
        output.WriteLine($"  {enter} {state.Kubectl} --kubeconfig {state.Kubeconfig} get gateways,httproutes -A");
        output.WriteLine($"  waypoint local exec -- {state.Kubectl} --kubeconfig {state.Kubeconfig} get pods -A");
        var example = state.Services.Where(s => s.Waypoint is not null).OrderBy(s => s.Name.Length).FirstOrDefault() ?? (state.Services.Count > 0 ? state.Services[0] : null);
        if (example is not null)
        {
            var port = example.Ports.Count > 0 ? example.Ports[0] : 80;
            output.WriteLine($"Send a request (curl in the ambient client pod {state.ClientPod}: ztunnel → waypoint → ztunnel → pod):");
            output.WriteLine($"  waypoint local curl http://{example.Hostname}{(port == 80 ? "" : $":{port}")}/hello");
        }

        output.WriteLine("Edit the YAML files (or kubectl apply) to change the mesh; Ctrl-C stops everything.");
        output.Flush();
    }

    private static Command BuildCurl()
    {
        var from = new Option<string?>("--from") { Description = "The pod (namespace/name) to send from; default the ambient client pod waypoint local made." };
        var stateFile = StateFileOption();
        var curl = new Command("curl", "Run curl (with -sS -i) in a pod's network namespace, so the request goes through the node's ztunnel and the waypoint: waypoint local curl [--from ns/pod] URL [curl args].")
        {
            from, stateFile,
        };
        curl.TreatUnmatchedTokensAsErrors = false;
        curl.SetAction(async (parseResult, cancellationToken) =>
        {
            var error = parseResult.InvocationConfiguration.Error;
            var arguments = parseResult.UnmatchedTokens.ToList();
            if (ReadState(parseResult.GetValue(stateFile)!, error) is not { } state)
            {
                return 2;
            }

            if (FindPod(state, parseResult.GetValue(from) ?? state.ClientPod, error) is not { } pod)
            {
                return 2;
            }

            // The pod's resolv.conf is not curl's (curl runs with the host's files): name the Service's VIP with --resolve.
            var resolve = new List<string>();
            foreach (var argument in arguments)
            {
                if (Uri.TryCreate(argument, UriKind.Absolute, out var url) && url.Scheme is "http" or "https" && state.ResolveService(url.Host) is { ClusterIp: { } vip })
                {
                    resolve.AddRange(["--resolve", $"{url.Host}:{url.Port}:{vip}"]);
                }
            }

            if (!arguments.Any(a => Uri.TryCreate(a, UriKind.Absolute, out _)))
            {
                error.WriteLine("Give a URL, e.g. waypoint local curl http://echo.demo.svc.cluster.local/hello");
                return 2;
            }

            return await RunAsync(LocalBoxEntry.Command(state, pod, ["curl", "-sS", "-i", .. resolve, .. arguments]), error, cancellationToken).ConfigureAwait(false);
        });
        return curl;
    }

    private static Command BuildExec()
    {
        var from = new Option<string?>("--from") { Description = "Run in this pod's (namespace/name) network namespace instead of the box's." };
        var stateFile = StateFileOption();
        var program = new Argument<string[]>("command") { Description = "The command and its arguments (after --).", Arity = ArgumentArity.OneOrMore };
        var exec = new Command("exec", "Run a command in the box's network namespace (or a pod's): waypoint local exec [--from ns/pod] -- CMD ARGS...")
        {
            from, stateFile, program,
        };
        exec.TreatUnmatchedTokensAsErrors = false;
        exec.SetAction(async (parseResult, cancellationToken) =>
        {
            var error = parseResult.InvocationConfiguration.Error;
            if (ReadState(parseResult.GetValue(stateFile)!, error) is not { } state)
            {
                return 2;
            }

            LocalBoxPod? pod = null;
            if (parseResult.GetValue(from) is { } name && (pod = FindPod(state, name, error)) is null)
            {
                return 2;
            }

            return await RunAsync(LocalBoxEntry.Command(state, pod, [.. parseResult.GetValue(program) ?? [], .. parseResult.UnmatchedTokens]), error, cancellationToken).ConfigureAwait(false);
        });
        return exec;
    }

    private static LocalBoxState? ReadState(string path, TextWriter error)
    {
        var state = LocalBoxState.TryRead(path);
        if (state is null)
        {
            error.WriteLine($"No running local mesh found ({path} is missing or unreadable). Start one with `waypoint local <directory>` (or `make run`).");
        }

        return state;
    }

    private static LocalBoxPod? FindPod(LocalBoxState state, string name, TextWriter error)
    {
        var pod = state.FindPod(name);
        if (pod is null)
        {
            error.WriteLine($"No running pod {name} on the box's node. Running: {string.Join(", ", state.Pods.Select(p => $"{p.Namespace}/{p.Name}"))}.");
        }

        return pod;
    }

    /// <summary>Runs the program with this process's standard streams; its exit code is ours.</summary>
    private static async Task<int> RunAsync(IReadOnlyList<string> command, TextWriter error, CancellationToken cancellationToken)
    {
        var startInfo = new ProcessStartInfo(command[0]) { UseShellExecute = false };
        foreach (var argument in command.Skip(1))
        {
            startInfo.ArgumentList.Add(argument);
        }

        try
        {
            using var process = Process.Start(startInfo)!;
            try
            {
                await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw;
            }

            return process.ExitCode;
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            error.WriteLine($"{command[0]} could not run: {ex.Message}");
            return 127;
        }
    }
}
