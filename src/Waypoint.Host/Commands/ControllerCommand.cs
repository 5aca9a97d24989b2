using System.CommandLine;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Waypoint.Controller;
using Waypoint.Controller.Publishing;
using Waypoint.Xds;

namespace Waypoint.Host.Commands;

/// <summary>
/// <c>waypoint controller</c>: the in-cluster control plane. Watches the cluster, reconciles waypoint Gateways, and
/// serves every waypoint Envoy over ADS from the same process. Every replica serves xDS; only the Lease holder writes.
/// Settings come from <c>Waypoint:Controller:*</c> (environment: <c>Waypoint__Controller__*</c>, see
/// <see cref="WaypointControllerOptions"/>).
/// </summary>
internal sealed class ControllerCommand : IWaypointCommand
{
    public Command Build()
    {
        var xdsAddress = new Option<string>("--xds-address")
        {
            Description = "ip:port of the xDS (ADS, h2c) listener the waypoint Envoys connect to.",
            DefaultValueFactory = _ => $"0.0.0.0:{XdsServerOptions.DefaultPort}",
        };
        var healthAddress = new Option<string>("--health-address")
        {
            Description = "ip:port of /healthz/live, /healthz/ready and /debug/xds (HTTP/1.1); empty disables.",
            DefaultValueFactory = _ => "0.0.0.0:15021",
        };
        var command = new Command("controller", "Run the Kubernetes controller and the xDS server for waypoint Envoys.");
        command.Options.Add(xdsAddress);
        command.Options.Add(healthAddress);
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            IPEndPoint xds;
            IPEndPoint? health = null;
            try
            {
                xds = XdsServerOptions.ParseEndPoint(parseResult.GetValue(xdsAddress)!);
                if (parseResult.GetValue(healthAddress) is { Length: > 0 } healthText)
                {
                    health = XdsServerOptions.ParseEndPoint(healthText);
                }
            }
            catch (FormatException ex)
            {
                await parseResult.InvocationConfiguration.Error.WriteLineAsync("waypoint controller: " + ex.Message).ConfigureAwait(false);
                return 2;
            }

            await RunAsync(xds, health, cancellationToken).ConfigureAwait(false);
            return 0;
        });
        return command;
    }

    private static async Task RunAsync(IPEndPoint xds, IPEndPoint? health, CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Services.AddWaypointXdsServer(o => o.ListenEndPoint = xds);
        builder.Services.AddSingleton<IWaypointConfigPublisher, XdsConfigPublisher>();
        builder.Services.AddWaypointController();
        builder.Services.Configure<WaypointControllerOptions>(builder.Configuration.GetSection("Waypoint:Controller"));
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.ListenWaypointXds(xds);
            if (health is not null)
            {
                kestrel.Listen(health, o => o.Protocols = HttpProtocols.Http1);
            }
        });

        var app = builder.Build();
        app.MapWaypointXds();
        app.MapGet("/healthz/live", () => Results.Text("live"));
        app.MapGet("/healthz/ready", (IHostApplicationLifetime lifetime) => lifetime.ApplicationStarted.IsCancellationRequested
            ? Results.Text("ready")
            : Results.Text("starting", statusCode: StatusCodes.Status503ServiceUnavailable));
        await app.RunAsync(cancellationToken).ConfigureAwait(false);
    }
}
