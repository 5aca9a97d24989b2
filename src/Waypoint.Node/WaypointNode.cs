using Microsoft.Extensions.Logging;
using Waypoint.Node.Kubelet;

namespace Waypoint.Node;

/// <summary>
/// One Kubernetes node of the box: the process CRI runtime (<see cref="CriServer"/>) and the real kubelet
/// (<see cref="KubeletProcess"/>) against it. Start it inside the box's network namespace and private mount
/// namespace, after the API server is ready; <see cref="WaitForReadyAsync"/> completes when the Node is Ready.
/// Disposing stops the kubelet, then every container and pod network.
/// </summary>
public sealed class WaypointNode : IAsyncDisposable
{
    private WaypointNode(CriServer runtime, KubeletProcess kubelet)
    {
        Runtime = runtime;
        Kubelet = kubelet;
    }

    public CriServer Runtime { get; }

    public KubeletProcess Kubelet { get; }

    public static async Task<WaypointNode> StartAsync(NodeOptions options, ILoggerFactory loggerFactory, TimeProvider? time = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var runtime = await CriServer.StartAsync(
            new CriServerOptions
            {
                SocketPath = options.EffectiveSocketPath,
                RootDirectory = Path.Combine(options.RootDirectory, "runtime"),
                Images = options.Images,
                NodeAddress = options.NodeAddress,
            },
            loggerFactory,
            time,
            cancellationToken).ConfigureAwait(false);
        try
        {
            var kubelet = await KubeletProcess.StartAsync(
                new KubeletOptions
                {
                    KubeletPath = options.KubeletPath,
                    ApiServer = options.ApiServer,
                    CaCertificatePath = options.CaCertificatePath,
                    ClientCertificatePath = options.KubeletClientCertificatePath,
                    ClientKeyPath = options.KubeletClientKeyPath,
                    ServingCertificatePath = options.KubeletServingCertificatePath,
                    ServingKeyPath = options.KubeletServingKeyPath,
                    NodeName = options.NodeName,
                    NodeAddress = options.NodeAddress,
                    RootDirectory = Path.Combine(options.RootDirectory, "kubelet"),
                    RuntimeEndpoint = runtime.Endpoint,
                    ClusterDns = options.ClusterDns,
                    ClusterDomain = options.ClusterDomain,
                },
                loggerFactory,
                time,
                cancellationToken).ConfigureAwait(false);
            return new WaypointNode(runtime, kubelet);
        }
        catch
        {
            await runtime.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Completes when the API server reports the Node Ready; fails if the kubelet exits first.</summary>
    public Task WaitForReadyAsync(CancellationToken cancellationToken) => Kubelet.WaitForNodeReadyAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        // The kubelet first: with it gone nobody restarts the containers the runtime then stops.
        await Kubelet.DisposeAsync().ConfigureAwait(false);
        await Runtime.DisposeAsync().ConfigureAwait(false);
    }
}
