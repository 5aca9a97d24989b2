using System.CommandLine;
using Waypoint.Cli.Rendering;

namespace Waypoint.Host.Commands;

/// <summary>
/// <c>waypoint config &lt;ns&gt;/&lt;gateway&gt; [listeners|routes|clusters|endpoints|secrets] [-o json|yaml]</c>, like
/// <c>istioctl proxy-config</c>: what the xDS server serves that waypoint, summarised as text, or the full resources
/// (Envoy's JSON) with <c>-o</c>.
/// </summary>
internal sealed class ConfigCommand : IWaypointCommand
{
    public Command Build()
    {
        var connection = new ControllerConnectionOptions();
        var gateway = new Argument<string>("gateway") { Description = "The waypoint Gateway, namespace/name." };
        var type = new Argument<string?>("type") { Description = "listeners, routes, clusters, endpoints or secrets (default: all).", Arity = ArgumentArity.ZeroOrOne };
        var command = new Command("config", "Show the xDS configuration the controller serves one waypoint (summary, or full resources with -o json|yaml).")
        {
            gateway, type,
        };
        connection.AddTo(command);
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var error = parseResult.InvocationConfiguration.Error;
            if (!TrySplit(parseResult.GetValue(gateway)!, out var ns, out var name))
            {
                await error.WriteLineAsync($"waypoint config: the Gateway must be namespace/name (got '{parseResult.GetValue(gateway)}').").ConfigureAwait(false);
                return 2;
            }

            if (!ConfigRenderer.TryParse(parseResult.GetValue(type), out var section))
            {
                await error.WriteLineAsync($"waypoint config: the type must be listeners, routes, clusters, endpoints or secrets (got '{parseResult.GetValue(type)}').").ConfigureAwait(false);
                return 2;
            }

            return await connection.RunAsync(parseResult, async (client, format, output, token) =>
            {
                if (format == OutputFormat.Table)
                {
                    var summary = await client.GetConfigAsync(ns, name, token).ConfigureAwait(false);
                    await output.WriteAsync(ConfigRenderer.Render(summary, section)).ConfigureAwait(false);
                }
                else
                {
                    var full = await client.GetFullConfigAsync(ns, name, token).ConfigureAwait(false);
                    await output.WriteAsync(StructuredOutput.Render(ConfigRenderer.Select(full, section), format)).ConfigureAwait(false);
                }
            }, cancellationToken).ConfigureAwait(false);
        });
        return command;
    }

    internal static bool TrySplit(string text, out string ns, out string name)
    {
        var parts = text.Split('/');
        (ns, name) = parts.Length == 2 ? (parts[0], parts[1]) : ("", "");
        return ns.Length > 0 && name.Length > 0;
    }
}
