using Microsoft.Extensions.Logging;

namespace Waypoint.Xds.Diagnostics;

internal static partial class XdsServerLog
{
    [LoggerMessage(1, LogLevel.Information, "ADS {Protocol} stream {StreamId} opened by node '{NodeId}' of group '{NodeGroup}'.", EventName = "StreamOpened")]
    public static partial void StreamOpened(ILogger logger, XdsProtocol protocol, long streamId, string nodeId, string nodeGroup);

    [LoggerMessage(2, LogLevel.Information, "ADS stream {StreamId} of node '{NodeId}' closed.", EventName = "StreamClosed")]
    public static partial void StreamClosed(ILogger logger, long streamId, string nodeId);

    [LoggerMessage(3, LogLevel.Warning, "Node '{NodeId}' (group '{NodeGroup}') rejected {TypeUrl} version '{Version}' (nonce {Nonce}): {ErrorMessage}", EventName = "Nack")]
    public static partial void Nack(ILogger logger, string nodeId, string nodeGroup, string typeUrl, string version, string nonce, string errorMessage);

    [LoggerMessage(4, LogLevel.Debug, "Sent {TypeUrl} version '{Version}' (nonce {Nonce}, {Count} resources, {Removed} removed) to node '{NodeId}'.", EventName = "Pushed")]
    public static partial void Pushed(ILogger logger, string typeUrl, string version, string nonce, int count, int removed, string nodeId);

    [LoggerMessage(5, LogLevel.Debug, "Node '{NodeId}' ACKed {TypeUrl} version '{Version}' (nonce {Nonce}).", EventName = "Ack")]
    public static partial void Ack(ILogger logger, string nodeId, string typeUrl, string version, string nonce);

    [LoggerMessage(6, LogLevel.Debug, "Ignoring {TypeUrl} request with stale nonce {Nonce} from node '{NodeId}' (latest is {LatestNonce}).", EventName = "StaleNonce")]
    public static partial void StaleNonce(ILogger logger, string typeUrl, string nonce, string nodeId, string? latestNonce);

    [LoggerMessage(7, LogLevel.Warning, "Rejected ADS request from node '{NodeId}': {Reason}", EventName = "InvalidRequest")]
    public static partial void InvalidRequest(ILogger logger, string nodeId, string reason);

    [LoggerMessage(8, LogLevel.Debug, "No snapshot for node group '{NodeGroup}' yet; node '{NodeId}' waits.", EventName = "WaitingForSnapshot")]
    public static partial void WaitingForSnapshot(ILogger logger, string nodeGroup, string nodeId);

    [LoggerMessage(9, LogLevel.Warning, "ADS stream {StreamId} of node '{NodeId}' failed.", EventName = "StreamFailed")]
    public static partial void StreamFailed(ILogger logger, Exception exception, long streamId, string nodeId);

    [LoggerMessage(10, LogLevel.Debug, "Holding back removal of {Count} clusters for node '{NodeId}' until listeners and routes no longer need them.", EventName = "ClusterRemovalDeferred")]
    public static partial void ClusterRemovalDeferred(ILogger logger, int count, string nodeId);

    [LoggerMessage(11, LogLevel.Warning, "Refused ADS stream of node '{NodeId}' (node.cluster '{NodeCluster}', identity '{Identity}', peer {Peer}): {Code} {Reason}", EventName = "StreamRefused")]
    public static partial void StreamRefused(ILogger logger, string nodeId, string nodeCluster, string identity, string peer, Grpc.Core.StatusCode code, string reason);

    [LoggerMessage(12, LogLevel.Warning, "Rejected the client certificate of xDS peer {Peer}: {Reason}", EventName = "ClientCertificateRejected")]
    public static partial void ClientCertificateRejected(ILogger logger, string peer, string reason);
}
