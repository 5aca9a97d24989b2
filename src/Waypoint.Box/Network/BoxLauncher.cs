using System.Diagnostics;
using System.Globalization;

namespace Waypoint.Box.Network;

/// <summary>How the box's namespaces are made.</summary>
public enum BoxNamespaceMode
{
    /// <summary><c>unshare --net --mount</c>: as root (CAP_SYS_ADMIN).</summary>
    Root,

    /// <summary><c>unshare --user --map-root-user --net --mount</c>: unprivileged, root only inside a user namespace.</summary>
    UserNamespace,
}

/// <summary>
/// Re-executes a command inside new network and mount namespaces. A .NET process is multithreaded, so it cannot
/// <c>unshare(2)</c> its own network namespace; instead <c>unshare --net --mount --propagation private --fork</c>
/// runs the same executable again with <see cref="InsideVariable"/> set, and that process hosts the box.
/// The <c>unshare</c> process lives as long as the box: <c>/proc/&lt;its pid&gt;/ns/net</c> names the namespace.
/// </summary>
public static class BoxLauncher
{
    /// <summary>Set to 1 in the re-executed process: it runs inside the box's namespaces.</summary>
    public const string InsideVariable = "WAYPOINT_BOX_INSIDE";

    /// <summary>The pid of the launcher, set for the inner process so it stops the box when the launcher dies.</summary>
    public const string LauncherPidVariable = "WAYPOINT_BOX_LAUNCHER_PID";

    private static readonly string[] NamespaceArguments = ["--net", "--mount", "--propagation", "private", "--fork"];

    /// <summary>Whether this process is the re-executed one, inside the box's namespaces.</summary>
    public static bool IsInside => Environment.GetEnvironmentVariable(InsideVariable) == "1";

    /// <summary>The launcher's pid as passed to the inner process, if any.</summary>
    public static int? LauncherPid =>
        int.TryParse(Environment.GetEnvironmentVariable(LauncherPidVariable), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) ? pid : null;

    /// <summary>
    /// Chooses how to make the namespaces: as root <c>unshare --net --mount</c>, else (or when that is refused, e.g. in a
    /// container without CAP_SYS_ADMIN) <c>unshare --user --map-root-user ...</c>. Each is tried with <c>true</c>;
    /// throws <see cref="BoxNamespaceUnavailableException"/> saying why neither works.
    /// </summary>
    public static BoxNamespaceMode DetectMode()
    {
        var problems = new List<string>();
        if (Libc.GetEffectiveUserId() == 0)
        {
            var rootProblem = TryUnshare(BoxNamespaceMode.Root, "true");
            if (rootProblem is null)
            {
                return BoxNamespaceMode.Root;
            }

            problems.Add($"as root, `unshare --net --mount` failed: {rootProblem}");
        }

        var unprivileged = UnprivilegedSupport.Check();
        if (unprivileged.CanMakeNamespaces)
        {
            return BoxNamespaceMode.UserNamespace;
        }

        if (unprivileged.UserNamespaces is not null)
        {
            problems.Add($"`unshare --user --map-root-user --net --mount` failed: {unprivileged.UserNamespaces}");
        }

        throw new BoxNamespaceUnavailableException(
            "Cannot create the box's network namespace: " + string.Join("; ", problems) +
            $". Unprivileged, this machine gives {unprivileged.Describe()}. Run as root, or enable unprivileged user namespaces" +
            (unprivileged.UserNamespaces is null ? " that allow mounts." : "."));
    }

    /// <summary>The <c>unshare</c> command line (before the command itself) for a mode.</summary>
    public static IReadOnlyList<string> UnshareArguments(BoxNamespaceMode mode) =>
        mode == BoxNamespaceMode.UserNamespace ? ["--user", "--map-root-user", .. NamespaceArguments] : NamespaceArguments;

    /// <summary>Starts <paramref name="executable"/> with <paramref name="arguments"/> inside new namespaces; stdio is inherited.</summary>
    public static Process Start(BoxNamespaceMode mode, string executable, IEnumerable<string> arguments)
    {
        var startInfo = new ProcessStartInfo("unshare") { UseShellExecute = false };
        foreach (var argument in UnshareArguments(mode))
        {
            startInfo.ArgumentList.Add(argument);
        }

        startInfo.ArgumentList.Add("--");
        startInfo.ArgumentList.Add(executable);
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        startInfo.Environment[InsideVariable] = "1";
        startInfo.Environment[LauncherPidVariable] = Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        return Process.Start(startInfo) ?? throw new BoxNamespaceUnavailableException("Could not start `unshare` (util-linux).");
    }

    /// <summary>
    /// Runs this very process again inside new namespaces with <paramref name="arguments"/> (the command line after the
    /// executable) and waits for it. Cancelling <paramref name="stop"/> sends SIGTERM to the inner process, which
    /// stops the box and exits. Returns the inner process's exit code.
    /// </summary>
    public static async Task<int> RunCurrentProcessAsync(BoxNamespaceMode mode, IEnumerable<string> arguments, CancellationToken stop)
    {
        var (executable, leading) = CurrentExecutable();
        using var unshare = Start(mode, executable, [.. leading, .. arguments]);
        using var forward = stop.Register(() => SignalChildren(unshare.Id, Libc.SigTerm));
        await unshare.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        return unshare.ExitCode;
    }

    /// <summary>The executable and leading arguments that start this process again (<c>dotnet app.dll</c> or the apphost).</summary>
    public static (string Executable, IReadOnlyList<string> LeadingArguments) CurrentExecutable()
    {
        var processPath = Environment.ProcessPath ?? throw new InvalidOperationException("The path of this process is unknown.");
        var entry = Environment.GetCommandLineArgs()[0];
        var isMuxer = Path.GetFileNameWithoutExtension(processPath).Equals("dotnet", StringComparison.Ordinal);
        return isMuxer ? (processPath, [entry]) : (processPath, []);
    }

    /// <summary>How a user reaches the box's network namespace from a host shell (the prefix of a kubectl hint).</summary>
    public static string ShellEntry(bool userNamespace, int unshareProcessId, string networkNamespacePath) => userNamespace
        ? $"nsenter --user --preserve-credentials --net --target {unshareProcessId}"
        : $"nsenter --net={networkNamespacePath}";

    /// <summary>
    /// Makes the inner process (and so every component it starts) a session of its own: a terminal's Ctrl-C then reaches
    /// only the launcher, which forwards one SIGTERM, and the box stops in order instead of every process at once.
    /// </summary>
    public static void EnterOwnSession() => _ = Libc.SetSid();

    /// <summary>Completes when the launcher that started this process is gone (e.g. killed), so the box can stop too.</summary>
    public static async Task WaitForLauncherExitAsync(CancellationToken cancellationToken)
    {
        if (LauncherPid is not { } pid)
        {
            await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
            return;
        }

        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(500));
        while (Libc.ProcessExists(pid) && await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
        {
        }
    }

    /// <summary>Sends a signal to the direct children of a process (the command <c>unshare --fork</c> runs).</summary>
    internal static void SignalChildren(int pid, int signal)
    {
        string children;
        try
        {
            children = File.ReadAllText($"/proc/{pid}/task/{pid}/children");
        }
        catch (IOException)
        {
            return;
        }

        foreach (var child in children.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            _ = Libc.Kill(int.Parse(child, CultureInfo.InvariantCulture), signal);
        }
    }

    /// <summary>Runs <c>unshare</c> for a mode with a command; null when it succeeded, else its exit code and error output.</summary>
    internal static string? TryUnshare(BoxNamespaceMode mode, params string[] command)
    {
        var startInfo = new ProcessStartInfo("unshare") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var argument in UnshareArguments(mode))
        {
            startInfo.ArgumentList.Add(argument);
        }

        foreach (var argument in command)
        {
            startInfo.ArgumentList.Add(argument);
        }

        try
        {
            using var process = Process.Start(startInfo);
            if (process is null)
            {
                return "could not start unshare";
            }

            var stderr = process.StandardError.ReadToEnd();
            process.WaitForExit();
            return process.ExitCode == 0 ? null : $"exit code {process.ExitCode}: {stderr.Trim()}";
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return $"`unshare` (util-linux) is not available: {ex.Message}";
        }
    }

    /// <summary>Why user namespaces are off, when a sysctl says so (else empty).</summary>
    internal static string UserNamespaceHint()
    {
        var hints = new List<string>();
        if (ReadSysctl("/proc/sys/kernel/unprivileged_userns_clone") == "0")
        {
            hints.Add("kernel.unprivileged_userns_clone is 0");
        }

        if (ReadSysctl("/proc/sys/user/max_user_namespaces") == "0")
        {
            hints.Add("user.max_user_namespaces is 0");
        }

        if (ReadSysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == "1")
        {
            hints.Add("kernel.apparmor_restrict_unprivileged_userns is 1");
        }

        return hints.Count == 0 ? string.Empty : $" (user namespaces are disabled: {string.Join(", ", hints)})";
    }

    private static string? ReadSysctl(string path)
    {
        try
        {
            return File.ReadAllText(path).Trim();
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}

/// <summary>The box's namespaces cannot be created here; the message says why and what to do.</summary>
public sealed class BoxNamespaceUnavailableException : Exception
{
    public BoxNamespaceUnavailableException()
    {
    }

    public BoxNamespaceUnavailableException(string message)
        : base(message)
    {
    }

    public BoxNamespaceUnavailableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
