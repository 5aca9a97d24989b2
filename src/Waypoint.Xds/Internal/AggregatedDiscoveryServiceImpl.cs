using Envoy.Service.Discovery.V3;
using Grpc.Core;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Waypoint.Xds.Diagnostics;
using Waypoint.Xds.Security;

namespace Waypoint.Xds.Internal;

/// <summary>The ADS gRPC service: one <see cref="AdsStream{TRequest,TResponse}"/> per call.</summary>
internal sealed class AggregatedDiscoveryServiceImpl(AdsServices services, IHostApplicationLifetime lifetime, IOptions<XdsServerOptions> options, IServiceProvider serviceProvider)
    : AggregatedDiscoveryService.AggregatedDiscoveryServiceBase
{
    public override Task StreamAggregatedResources(
        IAsyncStreamReader<DiscoveryRequest> requestStream,
        IServerStreamWriter<DiscoveryResponse> responseStream,
        ServerCallContext context) =>
        RunAsync(token => new SotwAdsStream(services, requestStream, responseStream, token).RunAsync(Peer(context)), context);

    public override Task DeltaAggregatedResources(
        IAsyncStreamReader<DeltaDiscoveryRequest> requestStream,
        IServerStreamWriter<DeltaDiscoveryResponse> responseStream,
        ServerCallContext context) =>
        RunAsync(token => new DeltaAdsStream(services, requestStream, responseStream, token).RunAsync(Peer(context)), context);

    /// <summary>
    /// Who is calling: over mutual TLS, the identity of the client certificate (already verified during the handshake;
    /// checked again here so a certificate reaches the resolver only through <see cref="XdsServerTls.Authenticate"/>).
    /// </summary>
    private XdsPeer Peer(ServerCallContext context)
    {
        if (options.Value.Transport == XdsTransportSecurity.Plaintext)
        {
            return new XdsPeer(context.Peer, null, null);
        }

        if (context.GetHttpContext().Connection.ClientCertificate is not { } certificate)
        {
            return new XdsPeer(context.Peer, null, "no client certificate");
        }

        var tls = serviceProvider.GetRequiredService<XdsServerTls>();
        return tls.Authenticate(certificate, [], out var reason) is { } identity
            ? new XdsPeer(context.Peer, identity, null)
            {
                Certificate = new XdsClientCertificate(identity.SpiffeId, certificate.NotBefore.ToUniversalTime(), certificate.NotAfter.ToUniversalTime()),
            }
            : new XdsPeer(context.Peer, null, reason);
    }

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

/// <summary>The transport peer of a stream and, over mutual TLS, its verified identity (or why it has none).</summary>
internal sealed record XdsPeer(string Address, XdsPeerIdentity? Identity, string? UnauthenticatedReason)
{
    /// <summary>The verified client certificate's identity and validity (mutual TLS only).</summary>
    public XdsClientCertificate? Certificate { get; init; }
}
