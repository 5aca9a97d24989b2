using System.CommandLine;
using Waypoint.Host.Commands;

// A pod's working directory is "/" (and on the box's node that is the host's root): with the default reloadable
// appsettings.json, every WebApplication in the process watches the whole tree recursively — about 44,000 inotify
// watches per controller process, which exhausted the machine's limit and made the kubelet fail. No setting of ours
// is reloaded from a file, so none is watched (an explicit setting in the environment still wins).
if (Environment.GetEnvironmentVariable("DOTNET_hostBuilder__reloadConfigOnChange") is null)
{
    Environment.SetEnvironmentVariable("DOTNET_hostBuilder__reloadConfigOnChange", "false");
}

var root = new RootCommand("Waypoint: an Istio ambient waypoint built on upstream Envoy.");
foreach (var command in WaypointCommands.Discover())
{
    root.Subcommands.Add(command);
}

return await root.Parse(args).InvokeAsync().ConfigureAwait(false);
