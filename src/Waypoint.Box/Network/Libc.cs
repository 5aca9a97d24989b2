using System.Runtime.InteropServices;

namespace Waypoint.Box.Network;

/// <summary>The few libc calls .NET has no API for: namespaces, sessions and signals other than SIGKILL.</summary>
internal static partial class Libc
{
    public const int CloneNewNet = 0x40000000;
    public const int SigTerm = 15;
    public const int SigKill = 9;
    public const int Esrch = 3;

    [LibraryImport("libc", EntryPoint = "setns", SetLastError = true)]
    public static partial int SetNs(int fd, int nsType);

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    public static partial int Kill(int pid, int signal);

    [LibraryImport("libc", EntryPoint = "geteuid")]
    public static partial uint GetEffectiveUserId();

    [LibraryImport("libc", EntryPoint = "getppid")]
    public static partial int GetParentProcessId();

    public const int WriteOk = 2;

    [LibraryImport("libc", EntryPoint = "access", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Access(string path, int mode);

    [LibraryImport("libc", EntryPoint = "setsid", SetLastError = true)]
    public static partial int SetSid();

    /// <summary>Whether a process with this pid exists (it may be a zombie).</summary>
    public static bool ProcessExists(int pid) => Kill(pid, 0) == 0 || Marshal.GetLastPInvokeError() != Esrch;
}
