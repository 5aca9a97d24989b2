using Envoy.Service.Discovery.V3;
using Grpc.Core;
using Waypoint.Xds.Diagnostics;

namespace Waypoint.Xds.Internal;

/// <summary>The ADS gRPC service: one <see cref="AdsStream{TRequest,TResponse}"/> per call.</summary>
internal sealed class AggregatedDiscoveryServiceImpl(AdsServices services) : AggregatedDiscoveryService.AggregatedDiscoveryServiceBase
{
    public override Task StreamAggregatedResources(
        IAsyncStreamReader<DiscoveryRequest> requestStream,
        IServerStreamWriter<DiscoveryResponse> responseStream,
        ServerCallContext context) =>
        RunAsync(new SotwAdsStream(services, requestStream, responseStream, context).RunAsync, context);

    public override Task DeltaAggregatedResources(
        IAsyncStreamReader<DeltaDiscoveryRequest> requestStream,
        IServerStreamWriter<DeltaDiscoveryResponse> responseStream,
        ServerCallContext context) =>
        RunAsync(new DeltaAdsStream(services, requestStream, responseStream, context).RunAsync, context);

    private async Task RunAsync(Func<Task> run, ServerCallContext context)
    {
        try
        {
            await run().ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (context.CancellationToken.IsCancellationRequested)
        {
            // Envoy went away or the server is stopping.
        }
        catch (IOException) when (context.CancellationToken.IsCancellationRequested)
        {
            // The connection broke while reading or writing.
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
