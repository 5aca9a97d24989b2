using System.Net.WebSockets;
using System.Security.Cryptography.X509Certificates;
using k8s;

namespace Waypoint.Box.Network;

/// <summary>
/// KubernetesClient's WebSocket connections (exec, attach, port-forward) made inside the box's network namespace, as
/// its HTTP calls are (<see cref="BoxNetworkNamespace.Configure(KubernetesClientConfiguration)"/>): the client's
/// WebSocket otherwise dials from the calling process's own namespace, where the API server's address is not.
/// The client's TLS settings (client certificate, the kubeconfig's CA check) move onto the handler that dials.
/// </summary>
public sealed class BoxWebSocketBuilder(BoxNetworkNamespace network) : WebSocketBuilder
{
    private readonly X509CertificateCollection _clientCertificates = [];

    public override WebSocketBuilder AddClientCertificate(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        _clientCertificates.Add(certificate);
        return this;
    }

    public override async Task<WebSocket> BuildAndConnectAsync(Uri uri, CancellationToken cancellationToken)
    {
        // ClientWebSocket refuses its own TLS options together with a custom invoker: the handler carries them.
        var validate = Options.RemoteCertificateValidationCallback;
        Options.RemoteCertificateValidationCallback = null;
        var handler = network.CreateHandler();
        handler.SslOptions.ClientCertificates = _clientCertificates;
        if (validate is not null)
        {
            handler.SslOptions.RemoteCertificateValidationCallback = (sender, certificate, chain, errors) => validate(sender, certificate, chain, errors);
        }

        // Not disposed here: the upgraded connection belongs to the socket, which outlives this call.
#pragma warning disable CA2000
        var invoker = new HttpMessageInvoker(handler, disposeHandler: true);
#pragma warning restore CA2000
        await WebSocket.ConnectAsync(uri, invoker, cancellationToken).ConfigureAwait(false);
        return WebSocket;
    }
}
