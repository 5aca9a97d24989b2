using Microsoft.Extensions.Logging;

namespace Waypoint.Transformation.Processing;

internal static partial class TransformationLog
{
    [LoggerMessage(Level = LogLevel.Warning, EventId = 1, EventName = "MissingTransformation", Message = "An ext_proc stream arrived without a usable transformation: {Reason}")]
    public static partial void MissingTransformation(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, EventId = 2, EventName = "TransformationFailed", Message = "The {Direction} transformation failed; answering {StatusCode}: {Reason}")]
    public static partial void TransformationFailed(ILogger logger, string direction, int statusCode, string reason);

    [LoggerMessage(Level = LogLevel.Warning, EventId = 3, EventName = "RejectedConnection", Message = "Refused a transformation stream that did not arrive on the Unix socket (local endpoint '{EndPoint}').")]
    public static partial void RejectedConnection(ILogger logger, string? endPoint);

    [LoggerMessage(Level = LogLevel.Information, EventId = 4, EventName = "Listening", Message = "Transformation service listening on '{SocketPath}'.")]
    public static partial void Listening(ILogger logger, string socketPath);
}
