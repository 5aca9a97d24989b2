using System.CommandLine;
using Waypoint.Host.Commands;

var root = new RootCommand("Waypoint: an Istio ambient waypoint built on upstream Envoy.");
foreach (var command in WaypointCommands.Discover())
{
    root.Subcommands.Add(command);
}

return await root.Parse(args).InvokeAsync().ConfigureAwait(false);
