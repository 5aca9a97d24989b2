using Microsoft.Extensions.Logging;

namespace Waypoint.Node.Streaming;

internal static partial class StreamingLog
{
    /// <summary>A container or sandbox id as the logs name it: its first 12 characters, as <c>crictl</c> shows them.</summary>
    public static string ShortId(string id) => id[..Math.Min(12, id.Length)];

    [LoggerMessage(EventId = 1, EventName = "ExecStarted", Level = LogLevel.Information, Message = "Exec in container {ContainerId} started over {Protocol}: {Command}")]
    public static partial void ExecStarted(ILogger logger, string containerId, IReadOnlyList<string> command, string protocol);

    [LoggerMessage(EventId = 2, EventName = "ExecFinished", Level = LogLevel.Information, Message = "Exec in container {ContainerId} exited with code {ExitCode} ({Protocol}).")]
    public static partial void ExecFinished(ILogger logger, string containerId, int exitCode, string protocol);

    [LoggerMessage(EventId = 3, EventName = "ExecAbandoned", Level = LogLevel.Information, Message = "Exec in container {ContainerId}: the client went away; the command was killed.")]
    public static partial void ExecAbandoned(ILogger logger, string containerId);

    [LoggerMessage(EventId = 4, EventName = "ExecFailedToStart", Level = LogLevel.Warning, Message = "Exec in container {ContainerId} could not start: {Problem}")]
    public static partial void ExecFailedToStart(ILogger logger, string containerId, string problem);

    [LoggerMessage(EventId = 5, EventName = "ExecProtocolRefused", Level = LogLevel.Warning, Message = "Exec in container {ContainerId} refused: the client asked for {Protocol}, not a WebSocket channel protocol this runtime speaks.")]
    public static partial void ExecProtocolRefused(ILogger logger, string containerId, string protocol);

    [LoggerMessage(EventId = 6, EventName = "PortForwardStarted", Level = LogLevel.Information, Message = "Port-forward to pod sandbox {PodSandboxId} ports {Ports} started over {Protocol}.")]
    public static partial void PortForwardStarted(ILogger logger, string podSandboxId, IReadOnlyList<int> ports, string protocol);

    [LoggerMessage(EventId = 7, EventName = "PortForwardFinished", Level = LogLevel.Information, Message = "Port-forward to pod sandbox {PodSandboxId} ports {Ports}: every connection ended; closing.")]
    public static partial void PortForwardFinished(ILogger logger, string podSandboxId, IReadOnlyList<int> ports);

    [LoggerMessage(EventId = 8, EventName = "PortForwardAbandoned", Level = LogLevel.Information, Message = "Port-forward to pod sandbox {PodSandboxId} ports {Ports}: the client went away; its connections were closed.")]
    public static partial void PortForwardAbandoned(ILogger logger, string podSandboxId, IReadOnlyList<int> ports);

    [LoggerMessage(EventId = 9, EventName = "PortForwardConnectFailed", Level = LogLevel.Warning, Message = "Port-forward to pod sandbox {PodSandboxId}: port {Port} could not be connected: {Problem}")]
    public static partial void PortForwardConnectFailed(ILogger logger, string podSandboxId, int port, string problem);

    [LoggerMessage(EventId = 10, EventName = "PortForwardProtocolRefused", Level = LogLevel.Warning, Message = "Port-forward to pod sandbox {PodSandboxId} refused: the client asked for {Protocol}, not a WebSocket channel protocol this runtime speaks.")]
    public static partial void PortForwardProtocolRefused(ILogger logger, string podSandboxId, string protocol);

    [LoggerMessage(EventId = 11, EventName = "SpdyPortForwardConnected", Level = LogLevel.Debug, Message = "Port-forward (SPDY) to pod sandbox {PodSandboxId}: port {Port} connected.")]
    public static partial void SpdyPortForwardConnected(ILogger logger, string podSandboxId, int port);

    [LoggerMessage(EventId = 12, EventName = "SpdyPortForwardEnded", Level = LogLevel.Information, Message = "Port-forward (SPDY) to pod sandbox {PodSandboxId} ended: the client closed the connection ({Pending} forwards still open were closed).")]
    public static partial void SpdyPortForwardEnded(ILogger logger, string podSandboxId, int pending);

    [LoggerMessage(EventId = 13, EventName = "SpdyExecStreamsMissing", Level = LogLevel.Warning, Message = "Exec (SPDY) in container {ContainerId}: the client did not open the streams {Missing}; nothing was run.")]
    public static partial void SpdyExecStreamsMissing(ILogger logger, string containerId, string missing);

    [LoggerMessage(EventId = 14, EventName = "SpdyUpgraded", Level = LogLevel.Information, Message = "{Kind} for {Id} upgraded to SPDY/3.1, protocol {Protocol}.")]
    public static partial void SpdyUpgraded(ILogger logger, string kind, string id, string protocol);

    [LoggerMessage(EventId = 15, EventName = "SpdyConnectionEnded", Level = LogLevel.Information, Message = "SPDY connection ended: {Reason}")]
    public static partial void SpdyConnectionEnded(ILogger logger, string reason);

    [LoggerMessage(EventId = 16, EventName = "SpdyStreamOpened", Level = LogLevel.Information, Message = "SPDY stream {StreamId} opened: {Headers}")]
    public static partial void SpdyStreamOpened(ILogger logger, uint streamId, string headers);

    [LoggerMessage(EventId = 17, EventName = "SpdyFrame", Level = LogLevel.Debug, Message = "SPDY {Direction} {Frame}")]
    public static partial void SpdyFrame(ILogger logger, string direction, SpdyFrame frame);
}
