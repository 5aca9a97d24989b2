using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Waypoint.Node.Streaming;

/// <summary>Starts an exec's process for either streaming protocol (WebSocket or SPDY).</summary>
internal static class ExecProcess
{
    /// <summary>The started process; null (logged) when it could not start, which the session reports on its error stream.</summary>
    public static Process? TryStart(ProcessStartInfo start, ILogger logger, string containerId)
    {
        try
        {
            return Process.Start(start);
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            StreamingLog.ExecFailedToStart(logger, containerId, ex.Message);
            return null;
        }
    }
}
