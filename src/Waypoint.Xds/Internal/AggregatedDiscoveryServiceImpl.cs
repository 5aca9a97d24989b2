using Envoy.Service.Discovery.V3;
using Grpc.Core;
using Microsoft.Extensions.Hosting;
using Waypoint.Xds.Diagnostics;

namespace Waypoint.Xds.Internal;

/// <summary>The ADS gRPC service: one <see cref="AdsStream{TRequest,TResponse}"/> per call.</summary>
internal sealed class AggregatedDiscoveryServiceImpl(AdsServices services, IHostApplicationLifetime lifetime)
    : AggregatedDiscoveryService.AggregatedDiscoveryServiceBase
{
    public override Task StreamAggregatedResources(
        IAsyncStreamReader<DiscoveryRequest> requestStream,
        IServerStreamWriter<DiscoveryResponse> responseStream,
        ServerCallContext context) =>
        RunAsync(token => new SotwAdsStream(services, requestStream, responseStream, token).RunAsync(), context);

    public override Task DeltaAggregatedResources(
        IAsyncStreamReader<DeltaDiscoveryRequest> requestStream,
        IServerStreamWriter<DeltaDiscoveryResponse> responseStream,
        ServerCallContext context) =>
        RunAsync(token => new DeltaAdsStream(services, requestStream, responseStream, token).RunAsync(), context);

    private async Task RunAsync(Func<CancellationToken, Task> run, ServerCallContext context)
    {
        // ADS streams live as long as Envoy does; end them when the host stops instead of holding shutdown open.
        using var cancellation = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, lifetime.ApplicationStopping);
        try
        {
            await run(cancellation.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException && lifetime.ApplicationStopping.IsCancellationRequested)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, "The xDS server is shutting down."));
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException && context.CancellationToken.IsCancellationRequested)
        {
            // Envoy went away.
        }
        catch (RpcException)
        {
            throw;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Isolate the failure to this stream; Envoy reconnects and resyncs.
            XdsServerLog.StreamFailed(services.Logger, ex, 0, context.Peer);
            throw new RpcException(new Status(StatusCode.Internal, "The xDS server failed on this stream; reconnect."));
        }
    }
}
