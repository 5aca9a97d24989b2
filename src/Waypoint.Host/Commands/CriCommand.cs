using System.CommandLine;
using System.Net;
using Microsoft.Extensions.Logging;
using Waypoint.Local.Envoy;
using Waypoint.Node;
using Waypoint.Node.Images;

namespace Waypoint.Host.Commands;

/// <summary>
/// <c>waypoint cri</c> (hidden): the box node's container runtime alone, on a unix socket, until SIGTERM. Run it
/// inside a network and mount namespace of its own (it creates pod network namespaces, veths and routes in the
/// namespace it runs in). The box hosts the same <see cref="CriServer"/> in-process; this is for tests and debugging.
/// </summary>
internal sealed class CriCommand : IWaypointCommand
{
    public Command Build()
    {
        var socket = new Option<string>("--socket") { Description = "The unix socket to serve the CRI on.", Required = true };
        var root = new Option<string>("--root") { Description = "The runtime's state directory.", Required = true };
        var nodeIp = new Option<string>("--node-ip") { Description = "The node IP (address of host-network pods).", DefaultValueFactory = _ => "10.244.0.2" };
        var command = new Command("cri", "Serve the node's process container runtime (CRI) on a unix socket. Run it in a network namespace of its own.")
        {
            socket, root, nodeIp,
        };
        command.Hidden = true;
        command.SetAction(async (parseResult, invocationToken) =>
        {
            var error = parseResult.InvocationConfiguration.Error;
            if (!IPAddress.TryParse(parseResult.GetValue(nodeIp), out var node))
            {
                await error.WriteLineAsync($"waypoint cri: --node-ip '{parseResult.GetValue(nodeIp)}' is not an IP address.").ConfigureAwait(false);
                return 2;
            }

            using var stop = CancellationTokenSource.CreateLinkedTokenSource(invocationToken);
            using var signals = ShutdownSignals.CancelOn(stop);

            using var loggerFactory = LoggerFactory.Create(b => b
                .AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; })
                .AddFilter("Microsoft", LogLevel.Warning)
                .AddFilter("Grpc", LogLevel.Warning));
            var options = new CriServerOptions
            {
                SocketPath = Path.GetFullPath(parseResult.GetValue(socket)!),
                RootDirectory = Path.GetFullPath(parseResult.GetValue(root)!),
                NodeAddress = node,
                Images = ImageMap.Default(ImageMap.CurrentWaypointCommand(), EnvoyLocator.TryLocate()),
            };
            await using var server = await CriServer.StartAsync(options, loggerFactory, cancellationToken: stop.Token).ConfigureAwait(false);
            await parseResult.InvocationConfiguration.Output.WriteLineAsync($"CRI serving on {server.Endpoint}").ConfigureAwait(false);
            try
            {
                await Task.Delay(Timeout.Infinite, stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // SIGTERM: dispose stops every container and removes every pod network.
            }

            return 0;
        });
        return command;
    }
}
