using EnvoyNode = Envoy.Config.Core.V3.Node;
using Envoy.Service.Discovery.V3;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Grpc.Net.Client;
using Istio.Workload;
using Address = Istio.Workload.Address;
using Microsoft.Extensions.Logging;

namespace Waypoint.Ztunnel.Discovery;

/// <summary>Who the subscriber says it is: istiod treats a node whose id starts with <c>ztunnel~</c> as a ztunnel.</summary>
public sealed record ZtunnelIdentity(string PodName, string Namespace, string ServiceAccount, string NodeName, string Ip, string ClusterId = "Kubernetes")
{
    public EnvoyNode ToNode()
    {
        var node = new EnvoyNode { Id = $"ztunnel~{Ip}~{PodName}.{Namespace}~{Namespace}.svc.cluster.local", Cluster = ClusterId };
        node.Metadata = new Struct();
        node.Metadata.Fields["CLUSTER_ID"] = Value.ForString(ClusterId);
        node.Metadata.Fields["NAMESPACE"] = Value.ForString(Namespace);
        node.Metadata.Fields["SERVICE_ACCOUNT"] = Value.ForString(ServiceAccount);
        node.Metadata.Fields["NODE_NAME"] = Value.ForString(NodeName);
        node.Metadata.Fields["ISTIO_VERSION"] = Value.ForString("1.31.0");
        return node;
    }
}

/// <summary>
/// Subscribes to istiod's workload discovery as a ztunnel does (delta ADS, type <see cref="TypeUrl"/>, wildcard),
/// ACKs every response, and publishes each new state as an immutable <see cref="MeshView"/>. A broken stream is
/// reopened with capped backoff; the state starts again from istiod's full answer (the last view serves meanwhile).
/// </summary>
public sealed class WorkloadDiscoveryClient
{
    public const string TypeUrl = "type.googleapis.com/istio.workload.Address";

    private static readonly TimeSpan s_maxBackoff = TimeSpan.FromSeconds(5);

    private readonly GrpcChannel _channel;
    private readonly ZtunnelIdentity _identity;
    private readonly ILogger _logger;
    private readonly TimeProvider _timeProvider;
    private readonly object _gate = new();
    private MeshView _view = MeshView.Empty;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public WorkloadDiscoveryClient(GrpcChannel channel, ZtunnelIdentity identity, ILogger<WorkloadDiscoveryClient> logger, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(channel);
        ArgumentNullException.ThrowIfNull(identity);
        ArgumentNullException.ThrowIfNull(logger);
        _channel = channel;
        _identity = identity;
        _logger = logger;
        _timeProvider = timeProvider ?? TimeProvider.System;
    }

    /// <summary>Raised after every response that changed the view (on the stream's thread; keep handlers short).</summary>
    public event Action<MeshView>? Changed;

    public MeshView View => Volatile.Read(ref _view);

    /// <summary>Completes with the first view that satisfies <paramref name="predicate"/>.</summary>
    public async Task<MeshView> WaitForAsync(Func<MeshView, bool> predicate, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(predicate);
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                if (predicate(_view))
                {
                    return _view;
                }

                changed = _changed.Task;
            }

            await changed.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Runs until cancelled, reconnecting as needed.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var backoff = TimeSpan.FromMilliseconds(100);
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await RunStreamAsync(cancellationToken).ConfigureAwait(false);
                backoff = TimeSpan.FromMilliseconds(100);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.Cancelled && cancellationToken.IsCancellationRequested)
            {
                // Stopping: gRPC reports our own cancellation as a Cancelled status, which is no stream failure.
                return;
            }
            catch (Exception ex) when (ex is RpcException or IOException or HttpRequestException or InvalidOperationException)
            {
                WorkloadDiscoveryLog.StreamFailed(_logger, backoff.TotalMilliseconds, ex);
            }

            try
            {
                await Task.Delay(backoff, _timeProvider, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }

            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, s_maxBackoff.Ticks));
        }
    }

    private async Task RunStreamAsync(CancellationToken cancellationToken)
    {
        var client = new AggregatedDiscoveryService.AggregatedDiscoveryServiceClient(_channel);
        using var call = client.DeltaAggregatedResources(cancellationToken: cancellationToken);
        var subscribe = new DeltaDiscoveryRequest { Node = _identity.ToNode(), TypeUrl = TypeUrl };
        subscribe.ResourceNamesSubscribe.Add("*");
        await call.RequestStream.WriteAsync(subscribe, cancellationToken).ConfigureAwait(false);

        // istiod answers a new stream with everything: the state starts over from that answer.
        var state = new Dictionary<string, Address>(StringComparer.Ordinal);
        long revision = View.Revision;
        while (await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false))
        {
            var response = call.ResponseStream.Current;
            if (response.TypeUrl != TypeUrl)
            {
                await call.RequestStream.WriteAsync(new DeltaDiscoveryRequest { TypeUrl = response.TypeUrl, ResponseNonce = response.Nonce }, cancellationToken).ConfigureAwait(false);
                continue;
            }

            foreach (var removed in response.RemovedResources)
            {
                state.Remove(removed);
            }

            foreach (var resource in response.Resources)
            {
                if (resource.Resource_ is null)
                {
                    continue;
                }

                state[resource.Name] = resource.Resource_.Unpack<Address>();
            }

            Publish(state, ++revision);
            WorkloadDiscoveryLog.Received(_logger, response.Resources.Count, response.RemovedResources.Count, revision);
            await call.RequestStream.WriteAsync(new DeltaDiscoveryRequest { TypeUrl = TypeUrl, ResponseNonce = response.Nonce }, cancellationToken).ConfigureAwait(false);
        }
    }

    private void Publish(Dictionary<string, Address> state, long revision)
    {
        var services = new Dictionary<string, Service>(StringComparer.Ordinal);
        var workloads = new Dictionary<string, Workload>(StringComparer.Ordinal);
        foreach (var (name, address) in state)
        {
            switch (address.TypeCase)
            {
                case Address.TypeOneofCase.Service:
                    services[address.Service.Namespace + "/" + address.Service.Hostname] = address.Service;
                    break;
                case Address.TypeOneofCase.Workload:
                    workloads[name] = address.Workload;
                    break;
            }
        }

        var view = new MeshView(services, workloads, revision);
        TaskCompletionSource changed;
        lock (_gate)
        {
            _view = view;
            changed = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        changed.TrySetResult();
        Changed?.Invoke(view);
    }
}

internal static partial class WorkloadDiscoveryLog
{
    [LoggerMessage(Level = LogLevel.Debug, EventId = 1, EventName = "WorkloadDiscoveryReceived", Message = "Workload discovery: {Updated} updated, {Removed} removed (revision {Revision}).")]
    public static partial void Received(ILogger logger, int updated, int removed, long revision);

    [LoggerMessage(Level = LogLevel.Warning, EventId = 2, EventName = "WorkloadDiscoveryStreamFailed", Message = "The workload discovery stream to istiod failed; reconnecting in {BackoffMs} ms.")]
    public static partial void StreamFailed(ILogger logger, double backoffMs, Exception exception);
}
