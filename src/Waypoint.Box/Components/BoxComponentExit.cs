namespace Waypoint.Box.Components;

/// <summary>A component (or the node's kubelet) that exited while the box ran: its name, exit code and log.</summary>
public sealed record BoxComponentExit(string Name, int? ExitCode, string LogPath);
