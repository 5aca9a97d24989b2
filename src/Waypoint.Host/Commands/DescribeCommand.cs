using System.CommandLine;
using Waypoint.Cli.Rendering;

namespace Waypoint.Host.Commands;

/// <summary>
/// <c>waypoint describe service &lt;ns&gt;/&lt;svc&gt;</c>: which waypoint serves the Service, and which routes and
/// policies apply to it, in the order they are evaluated.
/// </summary>
internal sealed class DescribeCommand : IWaypointCommand
{
    public Command Build()
    {
        var connection = new ControllerConnectionOptions();
        var service = new Argument<string>("service") { Description = "The Service, namespace/name." };
        var describeService = new Command("service", "Which waypoint serves a Service, and the routes and policies that apply to it, in evaluation order.") { service };
        connection.AddTo(describeService);
        describeService.SetAction(async (parseResult, cancellationToken) =>
        {
            if (!ConfigCommand.TrySplit(parseResult.GetValue(service)!, out var ns, out var name))
            {
                await parseResult.InvocationConfiguration.Error.WriteLineAsync($"waypoint describe service: the Service must be namespace/name (got '{parseResult.GetValue(service)}').").ConfigureAwait(false);
                return 2;
            }

            return await connection.RunAsync(parseResult, async (client, format, output, token) =>
            {
                var description = await client.DescribeServiceAsync(ns, name, token).ConfigureAwait(false);
                await output.WriteAsync(format == OutputFormat.Table ? ServiceRenderer.Render(description) : StructuredOutput.Render(description, format)).ConfigureAwait(false);
            }, cancellationToken).ConfigureAwait(false);
        });
        var command = new Command("describe", "Describe how the waypoints treat an object.");
        command.Subcommands.Add(describeService);
        return command;
    }
}
