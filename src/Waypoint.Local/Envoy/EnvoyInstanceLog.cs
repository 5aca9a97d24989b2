using Microsoft.Extensions.Logging;

namespace Waypoint.Local.Envoy;

internal static partial class EnvoyInstanceLog
{
    [LoggerMessage(Level = LogLevel.Debug, EventId = 1, EventName = "EnvoyStarting", Message = "Starting Envoy '{Role}' (pid {ProcessId}) in {WorkDirectory}.")]
    public static partial void EnvoyStarting(ILogger logger, string role, int processId, string workDirectory);

    [LoggerMessage(Level = LogLevel.Information, EventId = 2, EventName = "EnvoyReady", Message = "Envoy '{Role}' is ready; admin {AdminUri}.")]
    public static partial void EnvoyReady(ILogger logger, string role, Uri adminUri);

    [LoggerMessage(Level = LogLevel.Debug, EventId = 3, EventName = "EnvoyStopped", Message = "Envoy '{Role}' stopped (exit code {ExitCode}).")]
    public static partial void EnvoyStopped(ILogger logger, string role, int exitCode);
}
