using System.CommandLine;
using k8s;
using k8s.Exceptions;
using Waypoint.Cli;
using Waypoint.Cli.Connection;
using Waypoint.Cli.Rendering;
using Waypoint.Local.Box;

namespace Waypoint.Host.Commands;

/// <summary>
/// How <c>waypoint status</c>, <c>config</c> and <c>describe</c> reach the controller's debug API: through the API
/// server's port-forward to the controller pods (kubeconfig, the default), <c>--controller-url</c>, or
/// <c>--local</c> (a running <c>waypoint local</c>). Also their shared <c>-o</c> option and error handling.
/// </summary>
internal sealed class ControllerConnectionOptions
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    private readonly Option<string?> _controllerUrl = new("--controller-url") { Description = "The controller's debug API (health port 15021) at this URL instead of port-forwarding to its pods; off loopback it needs --token." };
    private readonly Option<string?> _token = new("--token") { Description = "Bearer token sent with --controller-url (default: $WAYPOINT_TOKEN); its user needs RBAC to list/get Gateways (get Services for describe)." };
    private readonly Option<string?> _kubeconfig = new("--kubeconfig") { Description = "kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)." };
    private readonly Option<string?> _context = new("--context") { Description = "kubeconfig context (default: the current one)." };
    private readonly Option<string> _controllerNamespace = new("--controller-namespace") { Description = "Namespace of the controller pods.", DefaultValueFactory = _ => "waypoint-system" };
    private readonly Option<bool> _local = new("--local") { Description = "Ask the controller pods of the running `waypoint local` (its state file; needs root)." };
    private readonly Option<string> _stateFile = new("--state-file") { Description = "waypoint local's state file (with --local).", DefaultValueFactory = _ => LocalMeshOptions.DefaultStateFile };

    public Option<string?> Output { get; } = new("--output", "-o") { Description = "table (default), json or yaml." };

    public void AddTo(Command command, bool withOutput = true)
    {
        command.Options.Add(_controllerUrl);
        command.Options.Add(_token);
        command.Options.Add(_kubeconfig);
        command.Options.Add(_context);
        command.Options.Add(_controllerNamespace);
        command.Options.Add(_local);
        command.Options.Add(_stateFile);
        if (withOutput)
        {
            command.Options.Add(Output);
        }
    }

    /// <summary>Runs <paramref name="run"/> with a client; prints a clear error (exit 1) when the controller cannot be reached, 2 for bad input.</summary>
    public async Task<int> RunAsync(ParseResult parseResult, Func<ControllerDebugClient, OutputFormat, TextWriter, CancellationToken, Task> run, CancellationToken cancellationToken)
    {
        var error = parseResult.InvocationConfiguration.Error;
        var output = parseResult.InvocationConfiguration.Output;
        var name = parseResult.CommandResult.Command.Name;
        if (!StructuredOutput.TryParse(parseResult.GetValue(Output), out var format))
        {
            await error.WriteLineAsync($"waypoint {name}: -o must be table, json or yaml (got '{parseResult.GetValue(Output)}').").ConfigureAwait(false);
            return 2;
        }

        IControllerLocator locator;
        try
        {
            locator = CreateLocator(parseResult);
        }
        catch (Exception ex) when (ex is ArgumentException or KubeConfigException or FileNotFoundException or UriFormatException)
        {
            await error.WriteLineAsync($"waypoint {name}: {ex.Message}").ConfigureAwait(false);
            return 2;
        }

        using (locator)
        {
            try
            {
                await run(new ControllerDebugClient(locator), format, output, cancellationToken).ConfigureAwait(false);
                return 0;
            }
            catch (ControllerUnreachableException ex)
            {
                await error.WriteLineAsync($"waypoint {name}: {ex.Message}").ConfigureAwait(false);
                return 1;
            }
        }
    }

    private IControllerLocator CreateLocator(ParseResult parseResult)
    {
        var url = parseResult.GetValue(_controllerUrl);
        var local = parseResult.GetValue(_local);
        if (url is not null && local)
        {
            throw new ArgumentException("--controller-url and --local exclude each other.");
        }

        if (url is not null)
        {
            var token = parseResult.GetValue(_token) ?? Environment.GetEnvironmentVariable("WAYPOINT_TOKEN");
            return new DirectControllerLocator(new Uri(url, UriKind.Absolute), token, Timeout);
        }

        var controllerNamespace = parseResult.GetValue(_controllerNamespace)!;
        if (local)
        {
            if (!OperatingSystem.IsLinux())
            {
                throw new ArgumentException("--local needs Linux (waypoint local runs only there).");
            }

            return new LocalControllerLocator(parseResult.GetValue(_stateFile)!, controllerNamespace, Timeout);
        }

        var kubeconfig = parseResult.GetValue(_kubeconfig);
        var configuration = kubeconfig is null && KubernetesClientConfiguration.IsInCluster()
            ? KubernetesClientConfiguration.InClusterConfig()
            : KubernetesClientConfiguration.BuildConfigFromConfigFile(kubeconfig, parseResult.GetValue(_context));
        return new PortForwardControllerLocator(configuration, controllerNamespace, Timeout);
    }
}
