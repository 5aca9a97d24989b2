using Microsoft.Extensions.Logging;

namespace Waypoint.Box;

internal static partial class BoxLog
{
    [LoggerMessage(Level = LogLevel.Information, Message = "Box work directory {WorkDirectory}, network namespace {NetworkNamespace}")]
    public static partial void Starting(ILogger logger, string workDirectory, string networkNamespace);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Component} ready (pid {ProcessId}, log {LogPath})")]
    public static partial void ComponentReady(ILogger logger, string component, int? processId, string logPath);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Component} exited and was started again (pid {ProcessId}, restart {Restarts})")]
    public static partial void ComponentRestarted(ILogger logger, string component, int? processId, int restarts);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The state file could not be rewritten")]
    public static partial void StateWriteFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "Service VIPs proxied and cluster DNS serving on {DnsAddress}:53")]
    public static partial void ServicesReady(ILogger logger, System.Net.IPAddress dnsAddress);

    [LoggerMessage(Level = LogLevel.Information, Message = "CRDs applied from {Paths}")]
    public static partial void CrdsApplied(ILogger logger, IReadOnlyList<string> paths);

    [LoggerMessage(Level = LogLevel.Information, Message = "Box ready in {Elapsed} ms")]
    public static partial void Ready(ILogger logger, long elapsed);

    [LoggerMessage(Level = LogLevel.Information, Message = "Stopping {Component}")]
    public static partial void Stopping(ILogger logger, string component);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The box failed to start; its work directory {WorkDirectory} is kept for its logs")]
    public static partial void StartFailed(ILogger logger, string workDirectory);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not remove {Path}: {Reason}")]
    public static partial void CleanupFailed(ILogger logger, string path, string reason);
}
