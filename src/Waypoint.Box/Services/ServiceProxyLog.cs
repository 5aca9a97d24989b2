using System.Net;
using Microsoft.Extensions.Logging;

namespace Waypoint.Box.Services;

internal static partial class ServiceProxyLog
{
    [LoggerMessage(Level = LogLevel.Information, Message = "Service {Service} port {Port}: listening on {Frontend}, {Count} endpoint(s)")]
    public static partial void Listening(ILogger logger, string service, string port, IPEndPoint frontend, int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "Forwarding {Frontend} to {Backend}")]
    public static partial void FixedForward(ILogger logger, IPEndPoint frontend, IPEndPoint backend);

    [LoggerMessage(Level = LogLevel.Information, Message = "Service {Service} port {Port}: endpoints now {Backends}")]
    public static partial void BackendsChanged(ILogger logger, string service, string port, string backends);

    [LoggerMessage(Level = LogLevel.Information, Message = "Service {Service} port {Port}: listener on {Frontend} closed (Service gone, ambient, or no ready endpoint)")]
    public static partial void Closed(ILogger logger, string service, string port, IPEndPoint frontend);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Service {Service} port {Port}: cannot listen on {Frontend}: {Reason}")]
    public static partial void BindFailed(ILogger logger, string service, string port, IPEndPoint frontend, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Frontend}: no endpoint of {Backends} accepted the connection; the client is reset")]
    public static partial void BackendUnreachable(ILogger logger, IPEndPoint frontend, IEnumerable<IPEndPoint> backends);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Frontend}: accepting failed; the listener stops")]
    public static partial void AcceptFailed(ILogger logger, IPEndPoint frontend, Exception exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Kind}: listed {Count} at resourceVersion {ResourceVersion}")]
    public static partial void Listed(ILogger logger, string kind, int count, string? resourceVersion);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Kind}: list/watch failed; retrying")]
    public static partial void WatchFailed(ILogger logger, string kind, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Applying Services and EndpointSlices failed")]
    public static partial void ReconcileFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Applied {Routes} VIP port(s) and {Names} DNS name(s)")]
    public static partial void Applied(ILogger logger, int routes, int names);
}
