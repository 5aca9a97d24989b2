using Envoy.Data.Accesslog.V3;
using Envoy.Service.Accesslog.V3;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace Waypoint.Telemetry.RequestMetrics;

/// <summary>
/// Envoy's gRPC access log service (<c>envoy.service.accesslog.v3.AccessLogService</c>) in the agent: every entry
/// becomes Istio request metrics. Envoy opens one stream per log name and worker and keeps it; the entries arrive in
/// batches every <see cref="RequestMetricsEnvoyConfig.FlushInterval"/>. Serves the Unix socket only: anything else
/// could forge the waypoint's metrics.
/// </summary>
internal sealed class AccessLogReceiver(IstioRequestMetrics metrics, ILogger<AccessLogReceiver> logger) : AccessLogService.AccessLogServiceBase
{
    public override async Task<StreamAccessLogsResponse> StreamAccessLogs(IAsyncStreamReader<StreamAccessLogsMessage> requestStream, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(requestStream);
        ArgumentNullException.ThrowIfNull(context);
        var http = context.GetHttpContext();
        if (http.Connection.LocalIpAddress is not null)
        {
            RequestMetricsLog.RejectedConnection(logger, http.Connection.LocalIpAddress.ToString());
            throw new RpcException(new Status(StatusCode.PermissionDenied, "The access log service answers only on its Unix socket."));
        }

        try
        {
            while (await requestStream.MoveNext(context.CancellationToken).ConfigureAwait(false))
            {
                Record(requestStream.Current);
            }
        }
        catch (OperationCanceledException) when (context.CancellationToken.IsCancellationRequested)
        {
            // Envoy closed the stream (drain, restart): nothing to answer.
        }

        return new StreamAccessLogsResponse();
    }

    internal void Record(StreamAccessLogsMessage message)
    {
        switch (message.LogEntriesCase)
        {
            case StreamAccessLogsMessage.LogEntriesOneofCase.HttpLogs:
                metrics.Received("http", message.HttpLogs.LogEntry.Count);
                foreach (var entry in message.HttpLogs.LogEntry)
                {
                    var common = entry.CommonProperties;
                    var duration = common?.Duration ?? common?.TimeToLastDownstreamTxByte;
                    var request = entry.Request;
                    var response = entry.Response;
                    metrics.Request(
                        IstioLabels.Of(common),
                        IstioLabels.IsGrpc(request),
                        response?.ResponseCode ?? 0u,
                        duration is null ? 0 : duration.ToTimeSpan().TotalMilliseconds,
                        (long)((request?.RequestHeadersBytes ?? 0) + (request?.RequestBodyBytes ?? 0)),
                        (long)((response?.ResponseHeadersBytes ?? 0) + (response?.ResponseBodyBytes ?? 0)));
                }

                break;
            case StreamAccessLogsMessage.LogEntriesOneofCase.TcpLogs:
                metrics.Received("tcp", message.TcpLogs.LogEntry.Count);
                foreach (var entry in message.TcpLogs.LogEntry)
                {
                    var labels = IstioLabels.Of(entry.CommonProperties);
                    var type = entry.CommonProperties?.AccessLogType ?? AccessLogType.NotSet;
                    if (type == AccessLogType.TcpUpstreamConnected)
                    {
                        // The upstream connected (tcp_proxy's flush_access_log_on_connected).
                        metrics.TcpOpened(labels);
                        continue;
                    }

                    if (type == AccessLogType.TcpPeriodic)
                    {
                        continue; // not configured; its totals would be counted again at the end
                    }

                    // A connection whose upstream never connected had no intermediate entry: it opens and closes here.
                    var connected = entry.CommonProperties?.UpstreamRemoteAddress is not null;
                    var bytes = entry.ConnectionProperties;
                    metrics.TcpClosed(labels, (long)(bytes?.SentBytes ?? 0), (long)(bytes?.ReceivedBytes ?? 0), countOpened: !connected);
                }

                break;
        }
    }
}
