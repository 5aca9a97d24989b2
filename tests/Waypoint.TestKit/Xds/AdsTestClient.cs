using Envoy.Config.Core.V3;
using Envoy.Service.Discovery.V3;
using Grpc.Core;
using Grpc.Net.Client;

namespace Waypoint.TestKit.Xds;

// Waypoint.Node (a namespace) would otherwise hide Envoy's Node message here.
using Node = global::Envoy.Config.Core.V3.Node;

/// <summary>
/// A scriptable state-of-the-world ADS client (what Envoy does, one message at a time) for protocol tests and
/// benchmarks. The node is sent on the first request only, like Envoy with <c>set_node_on_first_message_only</c>.
/// </summary>
public sealed class SotwAdsTestClient(GrpcChannel channel, Node node, CancellationToken cancellationToken = default)
    : AdsTestCall<DiscoveryRequest, DiscoveryResponse>(
        new AggregatedDiscoveryService.AggregatedDiscoveryServiceClient(channel).StreamAggregatedResources(cancellationToken: cancellationToken),
        node,
        "discovery response")
{

    public static Node Node(string id, string cluster) => new() { Id = id, Cluster = cluster };

    /// <summary>Sends a request; the node goes with the first one (unless <paramref name="withoutNode"/>).</summary>
    public Task SendAsync(DiscoveryRequest request, bool withoutNode = false)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (TakeNode() is { } first && !withoutNode)
        {
            request.Node = first;
        }

        return WriteAsync(request);
    }

    public Task RequestAsync(string typeUrl, IEnumerable<string>? names = null, string version = "", string nonce = "")
    {
        var request = new DiscoveryRequest { TypeUrl = typeUrl, VersionInfo = version, ResponseNonce = nonce };
        request.ResourceNames.Add(names ?? []);
        return SendAsync(request);
    }

    /// <summary>ACKs <paramref name="response"/>, keeping (or changing to) <paramref name="names"/>.</summary>
    public Task AckAsync(DiscoveryResponse response, IEnumerable<string>? names = null)
    {
        ArgumentNullException.ThrowIfNull(response);
        return RequestAsync(response.TypeUrl, names, response.VersionInfo, response.Nonce);
    }

    /// <summary>NACKs <paramref name="response"/>: Envoy reports the version it still runs and the reason.</summary>
    public Task NackAsync(DiscoveryResponse response, string message, string lastGoodVersion = "", IEnumerable<string>? names = null)
    {
        ArgumentNullException.ThrowIfNull(response);
        var request = new DiscoveryRequest
        {
            TypeUrl = response.TypeUrl,
            VersionInfo = lastGoodVersion,
            ResponseNonce = response.Nonce,
            ErrorDetail = new Google.Rpc.Status { Code = (int)StatusCode.InvalidArgument, Message = message },
        };
        request.ResourceNames.Add(names ?? []);
        return SendAsync(request);
    }

}

/// <summary>A scriptable delta (incremental) ADS client; see <see cref="SotwAdsTestClient"/>.</summary>
public sealed class DeltaAdsTestClient(GrpcChannel channel, Node node, CancellationToken cancellationToken = default)
    : AdsTestCall<DeltaDiscoveryRequest, DeltaDiscoveryResponse>(
        new AggregatedDiscoveryService.AggregatedDiscoveryServiceClient(channel).DeltaAggregatedResources(cancellationToken: cancellationToken),
        node,
        "delta discovery response")
{
    public Task SendAsync(DeltaDiscoveryRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (TakeNode() is { } first)
        {
            request.Node = first;
        }

        return WriteAsync(request);
    }

    /// <summary>Subscribes (and/or unsubscribes); optionally with the versions held from a previous stream.</summary>
    public Task SubscribeAsync(
        string typeUrl,
        IEnumerable<string>? subscribe = null,
        IEnumerable<string>? unsubscribe = null,
        IReadOnlyDictionary<string, string>? initialVersions = null,
        string nonce = "")
    {
        var request = new DeltaDiscoveryRequest { TypeUrl = typeUrl, ResponseNonce = nonce };
        request.ResourceNamesSubscribe.Add(subscribe ?? []);
        request.ResourceNamesUnsubscribe.Add(unsubscribe ?? []);
        if (initialVersions is not null)
        {
            foreach (var (name, version) in initialVersions)
            {
                request.InitialResourceVersions[name] = version;
            }
        }

        return SendAsync(request);
    }

    public Task AckAsync(DeltaDiscoveryResponse response)
    {
        ArgumentNullException.ThrowIfNull(response);
        return SendAsync(new DeltaDiscoveryRequest { TypeUrl = response.TypeUrl, ResponseNonce = response.Nonce });
    }

    public Task NackAsync(DeltaDiscoveryResponse response, string message)
    {
        ArgumentNullException.ThrowIfNull(response);
        return SendAsync(new DeltaDiscoveryRequest
        {
            TypeUrl = response.TypeUrl,
            ResponseNonce = response.Nonce,
            ErrorDetail = new Google.Rpc.Status { Code = (int)StatusCode.InvalidArgument, Message = message },
        });
    }

}

/// <summary>The stream plumbing both ADS test clients share: node on the first request, timed receive, completion.</summary>
public abstract class AdsTestCall<TRequest, TResponse> : IAsyncDisposable
{
    private readonly AsyncDuplexStreamingCall<TRequest, TResponse> _call;
    private readonly string _responseName;
    private Node? _node;
    private Task<bool>? _next;

    private protected AdsTestCall(AsyncDuplexStreamingCall<TRequest, TResponse> call, Node node, string responseName)
    {
        _call = call;
        _node = node;
        _responseName = responseName;
    }

    /// <summary>The next response; throws <see cref="TimeoutException"/> if none arrives in time, or the stream's <see cref="RpcException"/>.</summary>
    public async Task<TResponse> ReceiveAsync(TimeSpan? timeout = null)
    {
        _next ??= _call.ResponseStream.MoveNext(CancellationToken.None);
        var limit = timeout ?? TimeSpan.FromSeconds(10);
        try
        {
            if (!await _next.WaitAsync(limit).ConfigureAwait(false))
            {
                throw new InvalidOperationException("The server ended the stream.");
            }
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"No {_responseName} within {limit}.");
        }

        _next = null;
        return _call.ResponseStream.Current;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _call.RequestStream.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is InvalidOperationException or RpcException or IOException)
        {
            // Stream already over.
        }

        _call.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>The node for the first request only, like Envoy with <c>set_node_on_first_message_only</c>.</summary>
    private protected Node? TakeNode()
    {
        var node = _node;
        _node = null;
        return node;
    }

    private protected Task WriteAsync(TRequest request) => _call.RequestStream.WriteAsync(request);
}
