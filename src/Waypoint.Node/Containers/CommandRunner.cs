using System.Diagnostics;
using System.Text;

namespace Waypoint.Node.Containers;

/// <summary>Thrown when a helper command (<c>ip</c>, <c>unshare</c>, <c>umount</c>) fails; the message names it and its error output.</summary>
public sealed class NodeCommandException(string message) : Exception(message);

/// <summary>Runs short helper commands (<c>ip</c>, <c>mount</c>...) to completion and reports their failures.</summary>
internal static class CommandRunner
{
    public static async Task<string> RunAsync(string executable, IReadOnlyList<string> arguments, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new NodeCommandException($"Could not start {executable}.");
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var error = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        var stdout = await output.ConfigureAwait(false);
        var stderr = await error.ConfigureAwait(false);
        if (process.ExitCode != 0)
        {
            throw new NodeCommandException($"`{Describe(executable, arguments)}` failed (exit {process.ExitCode}): {stderr.Trim()}");
        }

        return stdout;
    }

    /// <summary>Finds a tool on PATH (or the usual sbin folders, which a minimal PATH may lack).</summary>
    public static string Locate(string name)
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? string.Empty;
        foreach (var directory in path.Split(':', StringSplitOptions.RemoveEmptyEntries).Concat(["/usr/sbin", "/sbin", "/usr/bin", "/bin"]))
        {
            var candidate = Path.Combine(directory, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new NodeCommandException($"`{name}` was not found on PATH; the node needs it (util-linux / iproute2).");
    }

    private static string Describe(string executable, IReadOnlyList<string> arguments)
    {
        var text = new StringBuilder(Path.GetFileName(executable));
        foreach (var argument in arguments)
        {
            text.Append(' ').Append(argument);
        }

        return text.ToString();
    }
}
