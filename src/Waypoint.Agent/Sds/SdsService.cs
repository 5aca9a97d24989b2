using System.Globalization;
using System.Threading.Channels;
using Envoy.Service.Discovery.V3;
using Envoy.Service.Secret.V3;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Waypoint.Agent.Certificates;

namespace Waypoint.Agent.Sds;

/// <summary>
/// State-of-the-world SDS (<c>StreamSecrets</c>) for <c>default</c> and <c>ROOTCA</c>, with Istio's rules
/// (pkg/xds ShouldRespond): a NACK is logged and not answered; an empty nonce is an initial request answered in
/// full; a nonce other than the last sent is stale and ignored; an ACK is answered only for newly watched names;
/// a new certificate is pushed at once to streams watching the secrets it changed. Delta and Fetch are
/// Unimplemented, as in pilot-agent.
/// </summary>
internal sealed class SdsService(WorkloadCertificateManager manager, AgentMetrics metrics, TimeProvider timeProvider, ILogger<SdsService> logger)
    : SecretDiscoveryService.SecretDiscoveryServiceBase
{
    private static long s_streamIds;

    public override Task<DiscoveryResponse> FetchSecrets(DiscoveryRequest request, ServerCallContext context) =>
        throw new RpcException(new Status(StatusCode.Unimplemented, "FetchSecrets is not implemented; use StreamSecrets."));

    public override Task DeltaSecrets(IAsyncStreamReader<DeltaDiscoveryRequest> requestStream, IServerStreamWriter<DeltaDiscoveryResponse> responseStream, ServerCallContext context) =>
        throw new RpcException(new Status(StatusCode.Unimplemented, "DeltaSecrets is not implemented; use StreamSecrets."));

    public override async Task StreamSecrets(IAsyncStreamReader<DiscoveryRequest> requestStream, IServerStreamWriter<DiscoveryResponse> responseStream, ServerCallContext context)
    {
        var streamId = Interlocked.Increment(ref s_streamIds);
        var events = Channel.CreateUnbounded<DiscoveryRequest?>(new UnboundedChannelOptions { SingleReader = true });

        // A null event means "the certificate changed"; requests and pushes are handled in order on one loop.
        void OnChanged(object? sender, WorkloadCertificate certificate) => events.Writer.TryWrite(null);
        manager.CertificateChanged += OnChanged;
        var stream = new StreamState(streamId);
        var reader = PumpRequestsAsync(requestStream, events.Writer, context.CancellationToken);
        try
        {
            await foreach (var item in events.Reader.ReadAllAsync(context.CancellationToken).ConfigureAwait(false))
            {
                if (item is null)
                {
                    await SendDueAsync(stream, responseStream).ConfigureAwait(false);
                    continue;
                }

                if (stream.NodeId is null)
                {
                    stream.NodeId = item.Node?.Id ?? string.Empty;
                    AgentLog.SdsStreamOpened(logger, streamId, stream.NodeId);
                }

                if (item.ErrorDetail is not null)
                {
                    metrics.SdsNacked();
                    AgentLog.SdsNack(logger, streamId, item.ResponseNonce, string.Join(",", item.ResourceNames), item.ErrorDetail.Message);
                    continue;
                }

                if (item.ResponseNonce.Length == 0)
                {
                    // Initial request (or Envoy reconnecting): answer everything it names, whatever it had before.
                    stream.SetWatched(item.ResourceNames, logger);
                    stream.Sent.Clear();
                }
                else if (item.ResponseNonce != stream.LastNonce)
                {
                    AgentLog.SdsStaleNonce(logger, streamId, item.ResponseNonce, stream.LastNonce);
                    continue;
                }
                else
                {
                    AgentLog.SdsAck(logger, streamId, item.ResponseNonce, string.Join(",", item.ResourceNames));
                    stream.SetWatched(item.ResourceNames, logger);
                }

                await SendDueAsync(stream, responseStream).ConfigureAwait(false);
            }

            await reader.ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (context.CancellationToken.IsCancellationRequested)
        {
            // Envoy went away.
        }
        finally
        {
            manager.CertificateChanged -= OnChanged;
            AgentLog.SdsStreamClosed(logger, streamId);
        }
    }

    private static async Task PumpRequestsAsync(IAsyncStreamReader<DiscoveryRequest> requests, ChannelWriter<DiscoveryRequest?> writer, CancellationToken cancellationToken)
    {
        try
        {
            while (await requests.MoveNext(cancellationToken).ConfigureAwait(false))
            {
                writer.TryWrite(requests.Current);
            }

            writer.TryComplete();
        }
        catch (Exception ex)
        {
            writer.TryComplete(ex is OperationCanceledException ? null : ex);
        }
    }

    /// <summary>Sends, in one response, every watched secret whose content differs from what this stream last got.</summary>
    private async Task SendDueAsync(StreamState stream, IServerStreamWriter<DiscoveryResponse> responseStream)
    {
        var certificate = manager.Current;
        if (certificate is null || stream.Watched.Count == 0)
        {
            // Nothing to send yet; Envoy waits (initial_fetch_timeout 0s) and the first certificate triggers a push.
            return;
        }

        var response = new DiscoveryResponse
        {
            TypeUrl = SdsSecrets.SecretTypeUrl,
            VersionInfo = string.Create(CultureInfo.InvariantCulture, $"{timeProvider.GetUtcNow():yyyy-MM-ddTHH:mm:ssZ}/{manager.Generation}"),
            Nonce = Guid.NewGuid().ToString(),
        };
        var names = new List<string>();
        foreach (var name in stream.Watched)
        {
            var key = SdsSecrets.ContentKey(name, certificate);
            if (key is null || (stream.Sent.TryGetValue(name, out var sent) && sent == key))
            {
                continue;
            }

            response.Resources.Add(Any.Pack(SdsSecrets.Build(name, certificate)!));
            stream.Sent[name] = key;
            names.Add(name);
        }

        if (names.Count == 0)
        {
            return;
        }

        await responseStream.WriteAsync(response).ConfigureAwait(false);
        stream.LastNonce = response.Nonce;
        metrics.SdsPushed();
        AgentLog.SdsPushed(logger, stream.Id, string.Join(",", names), response.VersionInfo, response.Nonce);
    }

    private sealed class StreamState(long id)
    {
        public long Id { get; } = id;

        public string? NodeId { get; set; }

        public string LastNonce { get; set; } = string.Empty;

        public HashSet<string> Watched { get; } = new(StringComparer.Ordinal);

        /// <summary>Content key last sent per secret name.</summary>
        public Dictionary<string, string> Sent { get; } = new(StringComparer.Ordinal);

        public void SetWatched(IEnumerable<string> names, ILogger logger)
        {
            Watched.Clear();
            foreach (var name in names)
            {
                if (name is SdsSecrets.Default or SdsSecrets.RootCa)
                {
                    Watched.Add(name);
                }
                else
                {
                    AgentLog.SdsUnknownSecret(logger, Id, name);
                }
            }

            // Unsubscribed names must be sent again if watched later.
            foreach (var name in Sent.Keys.Where(n => !Watched.Contains(n)).ToList())
            {
                Sent.Remove(name);
            }
        }
    }
}
