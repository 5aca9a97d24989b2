using System.Net;
using System.Net.WebSockets;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Waypoint.Cli.Connection;

/// <summary>
/// The default, against a cluster: the controller pods (label <c>app.kubernetes.io/name=waypoint-controller</c>)
/// reached the way <c>kubectl port-forward</c> does — the API server's <c>pods/portforward</c> WebSocket, opened with
/// the user's kubeconfig credentials — to 127.0.0.1:15021 inside the pod. Inside the pod that is a loopback
/// connection, which the debug API trusts: the API server has already checked the user may port-forward to the
/// controller's pods (a permission as strong as exec'ing there). Through the API server's <c>services/proxy</c> or
/// <c>pods/proxy</c> instead, the controller would see the API server's identity, not the user's (the caller's
/// token is not forwarded), so those are not used.
/// </summary>
public sealed class PortForwardControllerLocator(KubernetesClientConfiguration configuration, string controllerNamespace, TimeSpan timeout) : IControllerLocator
{
    public const string ControllerLabel = "app.kubernetes.io/name=waypoint-controller";
    private readonly Kubernetes _client = new(configuration);
    private readonly List<ControllerReplica> _replicas = [];

    public string Description => $"the controller pods ({ControllerLabel}) in namespace {controllerNamespace} through the API server at {configuration.Host}";

    public async Task<IReadOnlyList<ControllerReplica>> LocateAsync(CancellationToken cancellationToken)
    {
        V1PodList pods;
        try
        {
            using var listTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            listTimeout.CancelAfter(timeout);
            pods = await _client.CoreV1.ListNamespacedPodAsync(controllerNamespace, labelSelector: ControllerLabel, cancellationToken: listTimeout.Token).ConfigureAwait(false);
        }
        catch (HttpOperationException ex)
        {
            throw new ControllerUnreachableException($"The API server at {configuration.Host} refused to list the controller pods in {controllerNamespace}: {(int)ex.Response.StatusCode} {ex.Response.ReasonPhrase}.", ex);
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            throw new ControllerUnreachableException($"Cannot reach the API server at {configuration.Host}: {ex.Message}", ex);
        }

        var running = pods.Items.Where(p => p.Status?.Phase == "Running" && p.Metadata.DeletionTimestamp is null)
            .OrderBy(p => p.Metadata.Name, StringComparer.Ordinal).ToList();
        if (running.Count == 0)
        {
            throw new ControllerUnreachableException($"No running controller pod ({ControllerLabel}) in namespace {controllerNamespace} of the cluster at {configuration.Host} (pass --controller-namespace, or --controller-url).");
        }

        foreach (var pod in running)
        {
            var name = pod.Metadata.Name;
            var handler = new SocketsHttpHandler
            {
                UseProxy = false,
                ConnectCallback = (_, token) => OpenPortForwardAsync(name, token),
            };
            var http = new HttpClient(handler) { BaseAddress = new Uri($"http://127.0.0.1:{ControllerReplica.DebugPort}/"), Timeout = timeout };
            _replicas.Add(new ControllerReplica(name, $"pod {controllerNamespace}/{name} through the API server's port-forward", http));
        }

        return _replicas;
    }

    /// <summary>One port-forward stream (channel 0 carries the data, after the 2-byte port prefix the demuxer strips).</summary>
    private async ValueTask<Stream> OpenPortForwardAsync(string pod, CancellationToken cancellationToken)
    {
        WebSocket socket;
        try
        {
            socket = await _client.WebSocketNamespacedPodPortForwardAsync(pod, controllerNamespace, [ControllerReplica.DebugPort], "v4.channel.k8s.io", cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (WebSocketException ex)
        {
            throw new HttpRequestException(HttpRequestError.ConnectionError, $"the API server refused port-forward to pod {controllerNamespace}/{pod}: {ex.Message}", ex, HttpStatusCode.BadGateway);
        }

        var demuxer = new StreamDemuxer(socket, StreamType.PortForward, ownsSocket: true);
        demuxer.Start();
        return new OwningStream(demuxer.GetStream((byte?)0, (byte?)0), demuxer);
    }

    public void Dispose()
    {
        foreach (var replica in _replicas)
        {
            replica.Dispose();
        }

        _client.Dispose();
    }

    /// <summary>The demuxer's stream, disposing the demuxer (and its WebSocket) with it.</summary>
    private sealed class OwningStream(Stream inner, IDisposable owner) : Stream
    {
        public override bool CanRead => inner.CanRead;

        public override bool CanSeek => false;

        public override bool CanWrite => inner.CanWrite;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Flush() => inner.Flush();

        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => inner.ReadAsync(buffer, offset, count, cancellationToken);

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);

        public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => inner.WriteAsync(buffer, offset, count, cancellationToken);

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => inner.WriteAsync(buffer, cancellationToken);

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
                owner.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
