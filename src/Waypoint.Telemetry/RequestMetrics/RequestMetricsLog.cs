using Microsoft.Extensions.Logging;

namespace Waypoint.Telemetry.RequestMetrics;

internal static partial class RequestMetricsLog
{
    [LoggerMessage(Level = LogLevel.Warning, EventId = 1, EventName = "RejectedConnection", Message = "Refused an access log stream that did not arrive on the Unix socket (local endpoint '{EndPoint}').")]
    public static partial void RejectedConnection(ILogger logger, string? endPoint);

    [LoggerMessage(Level = LogLevel.Information, EventId = 2, EventName = "Listening", Message = "Request metrics (Envoy access log service) listening on '{SocketPath}'.")]
    public static partial void Listening(ILogger logger, string socketPath);
}
