using System.CommandLine;
using System.Net;
using Microsoft.Extensions.Logging;
using Waypoint.Local.Envoy;
using Waypoint.Node;
using Waypoint.Node.Images;

namespace Waypoint.Host.Commands;

/// <summary>
/// <c>waypoint node</c> (hidden): one box node — the process CRI runtime and the real kubelet — against an API server,
/// until SIGTERM. Run it in the box's network namespace and a private mount namespace; the box hosts the same
/// <see cref="WaypointNode"/> in-process. For manual checks and debugging.
/// </summary>
internal sealed class NodeCommand : IWaypointCommand
{
    public Command Build()
    {
        var apiServer = new Option<string>("--api-server") { Description = "The API server URL.", DefaultValueFactory = _ => "https://127.0.0.1:6443" };
        var ca = new Option<string>("--ca") { Description = "The cluster CA (PEM).", Required = true };
        var clientCert = new Option<string>("--client-cert") { Description = "Kubelet client cert (O=system:nodes, CN=system:node:NAME).", Required = true };
        var clientKey = new Option<string>("--client-key") { Description = "Its key.", Required = true };
        var servingCert = new Option<string>("--serving-cert") { Description = "Kubelet serving cert (SAN: the node IP).", Required = true };
        var servingKey = new Option<string>("--serving-key") { Description = "Its key.", Required = true };
        var name = new Option<string>("--name") { Description = "The node name.", DefaultValueFactory = _ => "box-node" };
        var nodeIp = new Option<string>("--node-ip") { Description = "The node IP (on an interface of this namespace).", DefaultValueFactory = _ => "10.244.0.2" };
        var root = new Option<string>("--root") { Description = "The node's state directory.", Required = true };
        var kubelet = new Option<string>("--kubelet") { Description = "The kubelet binary.", Required = true };
        var command = new Command("node", "Run a box node: the process CRI runtime and the real kubelet, until SIGTERM.")
        {
            apiServer, ca, clientCert, clientKey, servingCert, servingKey, name, nodeIp, root, kubelet,
        };
        command.Hidden = true;
        command.SetAction(async (parseResult, invocationToken) =>
        {
            var output = parseResult.InvocationConfiguration.Output;
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(invocationToken);
            using var signals = ShutdownSignals.CancelOn(stop);

            using var loggerFactory = LoggerFactory.Create(b => b
                .AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; })
                .AddFilter("Microsoft", LogLevel.Warning)
                .AddFilter("Grpc", LogLevel.Warning));
            var options = new NodeOptions
            {
                ApiServer = new Uri(parseResult.GetValue(apiServer)!),
                CaCertificatePath = Path.GetFullPath(parseResult.GetValue(ca)!),
                KubeletClientCertificatePath = Path.GetFullPath(parseResult.GetValue(clientCert)!),
                KubeletClientKeyPath = Path.GetFullPath(parseResult.GetValue(clientKey)!),
                KubeletServingCertificatePath = Path.GetFullPath(parseResult.GetValue(servingCert)!),
                KubeletServingKeyPath = Path.GetFullPath(parseResult.GetValue(servingKey)!),
                NodeName = parseResult.GetValue(name)!,
                NodeAddress = IPAddress.Parse(parseResult.GetValue(nodeIp)!),
                RootDirectory = Path.GetFullPath(parseResult.GetValue(root)!),
                KubeletPath = Path.GetFullPath(parseResult.GetValue(kubelet)!),
                Images = ImageMap.Default(ImageMap.CurrentWaypointCommand(), EnvoyLocator.TryLocate()),
            };
            await using var node = await WaypointNode.StartAsync(options, loggerFactory, cancellationToken: stop.Token).ConfigureAwait(false);
            try
            {
                await node.WaitForReadyAsync(stop.Token).ConfigureAwait(false);
                await output.WriteLineAsync($"Node {options.NodeName} is Ready (kubelet log: {node.Kubelet.LogPath}).").ConfigureAwait(false);
                await Task.Delay(Timeout.Infinite, stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                await output.WriteLineAsync("Stopping the node ...").ConfigureAwait(false);
            }

            return 0;
        });
        return command;
    }
}
