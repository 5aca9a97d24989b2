using Microsoft.Extensions.Logging;

namespace Waypoint.Ztunnel;

internal static partial class ZtunnelLog
{
    [LoggerMessage(Level = LogLevel.Information, EventId = 1, EventName = "ZtunnelStarted", Message = "ztunnel on node {Node}: Envoy pid {Pid}, admin 127.0.0.1:{AdminPort}, files in {Root}.")]
    public static partial void Started(ILogger logger, string node, int pid, int adminPort, string root);

    [LoggerMessage(Level = LogLevel.Information, EventId = 2, EventName = "ZtunnelConfigWritten", Message = "ztunnel config for mesh revision {Revision}: {Pods} enrolled pod(s), {Services} service port(s), {Accounts} identity(ies).")]
    public static partial void ConfigWritten(ILogger logger, long revision, int pods, int services, int accounts);

    [LoggerMessage(Level = LogLevel.Information, EventId = 3, EventName = "ZtunnelCertificateIssued", Message = "Certificate for ServiceAccount '{Account}' issued (serial {Serial}, valid until {NotAfter:O}, renewed from {RenewAt:O}).")]
    public static partial void CertificateIssued(ILogger logger, Mesh.ServiceAccountKey account, string serial, DateTimeOffset notAfter, DateTimeOffset renewAt);

    [LoggerMessage(Level = LogLevel.Warning, EventId = 4, EventName = "ZtunnelCertificateFailed", Message = "Certificate for ServiceAccount '{Account}' failed; retrying in {RetryMs} ms: {Reason}")]
    public static partial void CertificateFailed(ILogger logger, Mesh.ServiceAccountKey account, double retryMs, string reason);

    [LoggerMessage(Level = LogLevel.Warning, EventId = 5, EventName = "ZtunnelReconcileFailed", Message = "ztunnel reconcile failed; retrying.")]
    public static partial void ReconcileFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, EventId = 6, EventName = "ZtunnelRouteFailed", Message = "Could not add the local route for {Vip} in {NetworkNamespace}: {Reason}")]
    public static partial void RouteFailed(ILogger logger, string vip, string networkNamespace, string reason);

    [LoggerMessage(Level = LogLevel.Warning, EventId = 7, EventName = "ZtunnelEnvoyExited", Message = "The ztunnel's Envoy exited with code {ExitCode}; see {Log}.")]
    public static partial void EnvoyExited(ILogger logger, int exitCode, string log);
}
