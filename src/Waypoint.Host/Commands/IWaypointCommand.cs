using System.CommandLine;

namespace Waypoint.Host.Commands;

/// <summary>
/// One subcommand of the <c>waypoint</c> executable (<c>controller</c>, <c>agent</c>, <c>local</c>, ...).
/// Each lives in its own file in this folder; <see cref="WaypointCommands.Discover"/> finds them, so adding a
/// subcommand touches no shared file.
/// </summary>
internal interface IWaypointCommand
{
    Command Build();
}

internal static class WaypointCommands
{
    public static IEnumerable<Command> Discover() =>
        typeof(WaypointCommands).Assembly.GetTypes()
            .Where(t => t is { IsClass: true, IsAbstract: false } && typeof(IWaypointCommand).IsAssignableFrom(t))
            .Select(t => ((IWaypointCommand)Activator.CreateInstance(t)!).Build())
            .OrderBy(c => c.Name, StringComparer.Ordinal);
}
