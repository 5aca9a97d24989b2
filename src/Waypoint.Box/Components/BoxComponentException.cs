using System.Text;

namespace Waypoint.Box.Components;

/// <summary>A component of the box failed to start: its name, its exit code when it died, its log and the log's last lines.</summary>
public sealed class BoxComponentException : Exception
{
    private const int TailLines = 15;

    public BoxComponentException()
    {
    }

    public BoxComponentException(string message)
        : base(message)
    {
    }

    public BoxComponentException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public BoxComponentException(string component, int? exitCode, string? logPath, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Component = component;
        ExitCode = exitCode;
        LogPath = logPath;
    }

    /// <summary>The component's name (etcd, kube-apiserver, crds, ...).</summary>
    public string? Component { get; }

    /// <summary>Its exit code, when it died.</summary>
    public int? ExitCode { get; }

    public string? LogPath { get; }

    /// <summary>An exception whose message ends with the log path and the log's last lines.</summary>
    public static BoxComponentException Create(string component, int? exitCode, string logPath, string reason, Exception? innerException = null)
    {
        var message = new StringBuilder(reason).Append(". Log: ").Append(logPath);
        var tail = Tail(logPath);
        if (tail.Count > 0)
        {
            message.Append("; its last lines:");
            foreach (var line in tail)
            {
                message.Append("\n  ").Append(line);
            }
        }

        return new BoxComponentException(component, exitCode, logPath, message.ToString(), innerException);
    }

    private static List<string> Tail(string logPath)
    {
        try
        {
            var lines = File.ReadAllLines(logPath);
            return lines.Skip(Math.Max(0, lines.Length - TailLines)).Select(l => l.Length > 400 ? l[..400] + "..." : l).ToList();
        }
        catch (IOException)
        {
            return [];
        }
    }
}
