using System.CommandLine;
using System.Globalization;
using Waypoint.Xds;
using Waypoint.Xds.Bootstrap;

namespace Waypoint.Host.Commands;

/// <summary><c>waypoint bootstrap</c>: prints (or writes) a waypoint Envoy's bootstrap.</summary>
internal sealed class BootstrapCommand : IWaypointCommand
{
    public Command Build()
    {
        var nodeId = new Option<string>("--node-id") { Description = "Envoy node id (per pod).", Required = true };
        var cluster = new Option<string>("--cluster") { Description = "Envoy node cluster = node group: <gateway>.<namespace>.", Required = true };
        var xdsAddress = new Option<string>("--xds-address")
        {
            Description = "Control plane host:port (an IP gives a STATIC cluster, a DNS name STRICT_DNS).",
            DefaultValueFactory = _ => "127.0.0.1:" + XdsServerOptions.DefaultPort.ToString(CultureInfo.InvariantCulture),
        };
        var xdsIdentity = new Option<string?>("--xds-server-identity")
        {
            Description = "SPIFFE ID the xDS server must present (e.g. spiffe://cluster.local/ns/waypoint-system/sa/waypoint-controller): mutual TLS with the agent's SDS certificates. Omit for plaintext h2c.",
        };
        var delta = new Option<bool>("--delta") { Description = "Use incremental ADS (DELTA_GRPC) instead of state of the world." };
        var adminPort = new Option<int>("--admin-port") { Description = "Admin port on 127.0.0.1.", DefaultValueFactory = _ => 15000 };
        var sdsSocket = new Option<string>("--sds-socket") { Description = "Unix socket of the SDS server (the agent).", DefaultValueFactory = _ => EnvoyBootstrapOptions.DefaultSdsSocketPath };
        var healthPort = new Option<int>("--health-port") { Description = "Readiness listener port serving /healthz/ready (0: none).", DefaultValueFactory = _ => 15021 };
        var format = new Option<string>("--format") { Description = "json or yaml.", DefaultValueFactory = _ => "yaml" };
        format.AcceptOnlyFromAmong("json", "yaml");
        var output = new Option<FileInfo?>("--output", "-o") { Description = "Write to this file instead of standard output." };

        var command = new Command("bootstrap", "Print the Envoy bootstrap of a waypoint pod.")
        {
            nodeId, cluster, xdsAddress, xdsIdentity, delta, adminPort, sdsSocket, healthPort, format, output,
        };
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var address = parseResult.GetValue(xdsAddress)!;
            var separator = address.LastIndexOf(':');
            if (separator <= 0 || !int.TryParse(address.AsSpan(separator + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
            {
                await parseResult.InvocationConfiguration.Error.WriteLineAsync($"--xds-address '{address}' must be host:port.").ConfigureAwait(false);
                return 2;
            }

            var options = new EnvoyBootstrapOptions
            {
                NodeId = parseResult.GetValue(nodeId)!,
                NodeCluster = parseResult.GetValue(cluster)!,
                XdsHost = address[..separator].Trim('[', ']'),
                XdsPort = port,
                XdsServerIdentity = parseResult.GetValue(xdsIdentity) is { Length: > 0 } identity ? identity : null,
                Protocol = parseResult.GetValue(delta) ? XdsProtocol.Delta : XdsProtocol.StateOfTheWorld,
                AdminPort = parseResult.GetValue(adminPort),
                SdsSocketPath = parseResult.GetValue(sdsSocket)!,
                HealthPort = parseResult.GetValue(healthPort) is > 0 and var health ? health : null,
            };
            Envoy.Config.Bootstrap.V3.Bootstrap bootstrap;
            try
            {
                bootstrap = EnvoyBootstrapBuilder.Build(options);
            }
            catch (ArgumentException ex)
            {
                await parseResult.InvocationConfiguration.Error.WriteLineAsync("waypoint bootstrap: " + ex.Message).ConfigureAwait(false);
                return 2;
            }

            var text = parseResult.GetValue(format) == "json" ? EnvoyBootstrapBuilder.RenderJson(bootstrap) : EnvoyBootstrapBuilder.RenderYaml(bootstrap);
            if (parseResult.GetValue(output) is { } file)
            {
                await File.WriteAllTextAsync(file.FullName, text, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await parseResult.InvocationConfiguration.Output.WriteAsync(text).ConfigureAwait(false);
            }

            return 0;
        });
        return command;
    }
}
