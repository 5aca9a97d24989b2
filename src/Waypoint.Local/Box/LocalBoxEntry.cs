namespace Waypoint.Local.Box;

/// <summary>
/// The command line that runs a program inside the box from the host: in the box's network namespace, or in a pod's.
/// A pod's namespace file is mounted only in the box's private mount namespace, so the outer <c>nsenter</c> enters
/// that mount namespace (and, for a rootless box, its user namespace) and an inner one the pod's network namespace;
/// the program itself sees the host's files (the box's mount namespace is a private copy of them).
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public static class LocalBoxEntry
{
    public static IReadOnlyList<string> Command(LocalBoxState state, LocalBoxPod? pod, IEnumerable<string> program)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(program);
        var target = state.UnshareProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        List<string> command = state.UserNamespace
            ? ["nsenter", "--target", target, "--user", "--preserve-credentials", "--mount", "--"]
            : ["nsenter", "--target", target, "--mount", "--"];
        command.AddRange(["nsenter", $"--net={pod?.NetworkNamespacePath ?? state.NetworkNamespacePath}", "--"]);
        command.AddRange(program);
        return command;
    }

    /// <summary>How a user reaches the box's network namespace from a host shell (the kubectl hint).</summary>
    public static string ShellPrefix(LocalBoxState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        return global::Waypoint.Box.Network.BoxLauncher.ShellEntry(state.UserNamespace, state.UnshareProcessId, state.NetworkNamespacePath);
    }
}
