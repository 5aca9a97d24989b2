using Microsoft.Extensions.Logging;
using Waypoint.Box;
using Waypoint.Box.Network;

namespace Waypoint.Ztunnel.Hosting;

/// <summary>The box's hook for the node's ztunnel: started after istiod and the node, in the box process (its namespaces).</summary>
public static class BoxZtunnel
{
    public const string Name = "ztunnel";

    private static readonly TimeSpan s_startLimit = TimeSpan.FromMinutes(2);

    /// <summary>The folder under the box's work folder where the ztunnel keeps its files (<see cref="Config.ZtunnelPaths"/>).</summary>
    public static string RootOf(string boxWorkDirectory) => Path.Combine(boxWorkDirectory, Name);

    public static BoxExtension Create(string envoyPath, ILoggerFactory loggerFactory)
    {
        ArgumentException.ThrowIfNullOrEmpty(envoyPath);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        return new BoxExtension(Name, async (box, cancellationToken) =>
        {
            var node = box.Node ?? throw new InvalidOperationException("The ztunnel needs the box's node (do not pass --no-node, or pass --no-ztunnel).");
            // istiod publishes its root within seconds of being ready; never wait for it forever.
            using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            limit.CancelAfter(s_startLimit);
            var ztunnel = await ZtunnelNode.StartAsync(new ZtunnelOptions
            {
                NodeName = box.State.Node?.Name ?? "box-node",
                NodeAddress = BoxNetwork.NodeIp,
                RootDirectory = RootOf(box.WorkDirectory),
                EnvoyPath = envoyPath,
                ApiClient = box.AdminClient,
                PodNetworks = node.Runtime.PodNetworkNamespaces,
            }, loggerFactory, cancellationToken: limit.Token).ConfigureAwait(false);
            return ztunnel;
        });
    }
}
