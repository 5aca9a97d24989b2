using System.CommandLine;
using Waypoint.Cli.Rendering;

namespace Waypoint.Host.Commands;

/// <summary>
/// <c>waypoint status [-n ns] [-o table|json|yaml]</c>: every waypoint, its readiness, addresses, bound Services
/// (with istiod's <c>istio.io/WaypointBound</c>), attached routes and policies with their conditions, connected Envoys
/// with their ACKed versions and certificate expiry, recent NACKs. istioctl's <c>waypoint status</c> is the model.
/// </summary>
internal sealed class StatusCommand : IWaypointCommand
{
    public Command Build()
    {
        var connection = new ControllerConnectionOptions();
        var ns = new Option<string?>("--namespace", "-n") { Description = "Only the waypoints of this namespace (default: all)." };
        var command = new Command("status", "Show every waypoint: readiness, addresses, bound Services, routes and policies, connected Envoys, NACKs, certificate expiry.");
        command.Options.Add(ns);
        connection.AddTo(command);
        command.SetAction((parseResult, cancellationToken) => connection.RunAsync(parseResult, async (client, format, output, token) =>
        {
            var document = await client.GetWaypointsAsync(parseResult.GetValue(ns), token).ConfigureAwait(false);
            await output.WriteAsync(format == OutputFormat.Table
                ? StatusRenderer.Render(document, DateTimeOffset.UtcNow)
                : StructuredOutput.Render(document, format)).ConfigureAwait(false);
        }, cancellationToken));
        return command;
    }
}
