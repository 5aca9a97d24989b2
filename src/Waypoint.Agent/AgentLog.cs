using Microsoft.Extensions.Logging;

namespace Waypoint.Agent;

/// <summary>All agent log events. Messages never carry a token, a key or an SDS payload.</summary>
internal static partial class AgentLog
{
    [LoggerMessage(1, LogLevel.Debug, "Created the CA channel to {Address}, trusting {RootCount} mesh root(s).", EventName = "CaChannelCreated")]
    public static partial void CaChannelCreated(ILogger logger, Uri address, int rootCount);

    [LoggerMessage(2, LogLevel.Information, "Installed the workload certificate for '{Identity}' (serial {Serial}, valid {NotBefore:O} to {NotAfter:O}); next rotation at {RotateAt:O}.", EventName = "CertificateInstalled")]
    public static partial void CertificateInstalled(ILogger logger, string identity, string serial, DateTimeOffset notBefore, DateTimeOffset notAfter, DateTimeOffset rotateAt);

    [LoggerMessage(3, LogLevel.Warning, "Getting a certificate failed ({Code}), retrying in {Delay}: {Reason}", EventName = "CertificateTransientFailure")]
    public static partial void CertificateTransientFailure(ILogger logger, string code, TimeSpan delay, string reason);

    [LoggerMessage(4, LogLevel.Error, "Getting a certificate was refused ({Code}); this needs attention, retrying slowly in {Delay}: {Reason}", EventName = "CertificateRejected")]
    public static partial void CertificateRejected(ILogger logger, string code, TimeSpan delay, string reason);

    [LoggerMessage(5, LogLevel.Error, "The workload certificate (serial {Serial}) expired at {NotAfter:O} and no replacement has been obtained.", EventName = "CertificateExpired")]
    public static partial void CertificateExpired(ILogger logger, string serial, DateTimeOffset notAfter);

    [LoggerMessage(6, LogLevel.Debug, "Keeping the current certificate (serial {Serial}, valid until {NotAfter:O}) while retrying.", EventName = "KeepingCurrentCertificate")]
    public static partial void KeepingCurrentCertificate(ILogger logger, string serial, DateTimeOffset notAfter);

    [LoggerMessage(10, LogLevel.Information, "SDS listening on unix socket '{SocketPath}'.", EventName = "SdsListening")]
    public static partial void SdsListening(ILogger logger, string socketPath);

    [LoggerMessage(11, LogLevel.Debug, "SDS stream {StreamId} opened by node '{NodeId}'.", EventName = "SdsStreamOpened")]
    public static partial void SdsStreamOpened(ILogger logger, long streamId, string nodeId);

    [LoggerMessage(12, LogLevel.Debug, "SDS stream {StreamId} closed.", EventName = "SdsStreamClosed")]
    public static partial void SdsStreamClosed(ILogger logger, long streamId);

    [LoggerMessage(13, LogLevel.Debug, "SDS stream {StreamId}: sent [{Names}] version {Version} nonce {Nonce}.", EventName = "SdsPushed")]
    public static partial void SdsPushed(ILogger logger, long streamId, string names, string version, string nonce);

    [LoggerMessage(14, LogLevel.Debug, "SDS stream {StreamId}: ACK of nonce {Nonce} for [{Names}].", EventName = "SdsAck")]
    public static partial void SdsAck(ILogger logger, long streamId, string nonce, string names);

    [LoggerMessage(15, LogLevel.Warning, "SDS stream {StreamId}: Envoy rejected nonce {Nonce} for [{Names}]: {Error}", EventName = "SdsNack")]
    public static partial void SdsNack(ILogger logger, long streamId, string nonce, string names, string error);

    [LoggerMessage(16, LogLevel.Debug, "SDS stream {StreamId}: ignoring a stale request (nonce {Nonce}, last sent {LastNonce}).", EventName = "SdsStaleNonce")]
    public static partial void SdsStaleNonce(ILogger logger, long streamId, string nonce, string lastNonce);

    [LoggerMessage(17, LogLevel.Warning, "SDS stream {StreamId}: Envoy asked for unknown secret '{Name}'; only 'default' and 'ROOTCA' are served.", EventName = "SdsUnknownSecret")]
    public static partial void SdsUnknownSecret(ILogger logger, long streamId, string name);

    [LoggerMessage(18, LogLevel.Warning, "Could not restrict permissions of '{Path}': {Reason}", EventName = "SdsPermissionsFailed")]
    public static partial void SdsPermissionsFailed(ILogger logger, string path, string reason);
}
