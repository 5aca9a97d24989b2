using Microsoft.Extensions.Logging;

namespace Waypoint.Local;

internal static partial class LocalRigLog
{
    [LoggerMessage(Level = LogLevel.Debug, EventId = 1, EventName = "EnvoyStarting", Message = "Starting Envoy '{Role}' (pid {ProcessId}) in {WorkDirectory}.")]
    public static partial void EnvoyStarting(ILogger logger, string role, int processId, string workDirectory);

    [LoggerMessage(Level = LogLevel.Information, EventId = 2, EventName = "EnvoyReady", Message = "Envoy '{Role}' is ready; admin {AdminUri}.")]
    public static partial void EnvoyReady(ILogger logger, string role, Uri adminUri);

    [LoggerMessage(Level = LogLevel.Debug, EventId = 3, EventName = "EnvoyStopped", Message = "Envoy '{Role}' stopped (exit code {ExitCode}).")]
    public static partial void EnvoyStopped(ILogger logger, string role, int exitCode);

    [LoggerMessage(Level = LogLevel.Warning, EventId = 10, EventName = "ConfigurationProblem", Message = "{Problem}")]
    public static partial void ConfigurationProblem(ILogger logger, string problem);

    [LoggerMessage(Level = LogLevel.Information, EventId = 11, EventName = "Applied", Message = "Configuration {Generation} applied: {Services} services, {Pods} pods, {Waypoints} waypoints.")]
    public static partial void Applied(ILogger logger, long generation, int services, int pods, int waypoints);

    [LoggerMessage(Level = LogLevel.Warning, EventId = 12, EventName = "ReloadRejected", Message = "The edited configuration has {Count} problem(s); the previous configuration keeps serving.")]
    public static partial void ReloadRejected(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Error, EventId = 13, EventName = "ReloadFailed", Message = "Reloading the configuration failed; the previous configuration keeps serving.")]
    public static partial void ReloadFailed(ILogger logger, Exception exception);
}
