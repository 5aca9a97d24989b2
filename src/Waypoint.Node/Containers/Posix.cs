using System.Runtime.InteropServices;

namespace Waypoint.Node.Containers;

/// <summary>The few POSIX calls .NET has no API for: signalling a whole process group.</summary>
internal static partial class Posix
{
    public const int SigKill = 9;
    public const int SigTerm = 15;

    /// <summary>Sends <paramref name="signal"/> to every process of group <paramref name="processGroup"/>; false when none is left.</summary>
    public static bool SignalGroup(int processGroup, int signal) => processGroup > 1 && Kill(-processGroup, signal) == 0;

    /// <summary>Sends <paramref name="signal"/> to one process.</summary>
    public static bool Signal(int processId, int signal) => processId > 1 && Kill(processId, signal) == 0;

    /// <summary>True while any process of the group exists (signal 0 probes without delivering).</summary>
    public static bool GroupExists(int processGroup) => processGroup > 1 && Kill(-processGroup, 0) == 0;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
