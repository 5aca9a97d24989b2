using System.CommandLine;
using System.Reflection;

namespace Waypoint.Host.Commands;

internal sealed class VersionCommand : IWaypointCommand
{
    public Command Build()
    {
        var command = new Command("version", "Print the Waypoint version.");
        command.SetAction(parseResult =>
        {
            var version = typeof(VersionCommand).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";
            parseResult.InvocationConfiguration.Output.WriteLine(version);
            return 0;
        });
        return command;
    }
}
