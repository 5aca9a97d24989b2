using System.CommandLine;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Waypoint.Agent;
using Waypoint.Controller;
using Waypoint.Controller.Publishing;
using Waypoint.Xds;
using Waypoint.Xds.Security;

namespace Waypoint.Host.Commands;

/// <summary>
/// <c>waypoint controller</c>: the in-cluster control plane. Watches the cluster, reconciles waypoint Gateways, and
/// serves every waypoint Envoy over ADS from the same process. Every replica serves xDS; only the Lease holder writes.
/// Settings come from <c>Waypoint:Controller:*</c> (environment: <c>Waypoint__Controller__*</c>, see
/// <see cref="WaypointControllerOptions"/>).
/// </summary>
/// <remarks>
/// xDS is mutual TLS by default (istiod's model, port 15012): the controller obtains its own certificate from istiod's
/// CA with its projected ServiceAccount token (audience <c>istio-ca</c>), rotated like a waypoint agent's; each Envoy
/// presents its workload certificate and reads only its own waypoint (<see cref="WaypointIdentityGroups"/>).
/// <c>--xds-insecure</c> serves plaintext h2c instead, for development only.
/// </remarks>
internal sealed class ControllerCommand : IWaypointCommand
{
    public Command Build()
    {
        var xdsAddress = new Option<string?>("--xds-address")
        {
            Description = $"ip:port of the xDS (ADS) listener the waypoint Envoys connect to (default 0.0.0.0:{XdsServerOptions.DefaultSecurePort}, mutual TLS; with --xds-insecure 0.0.0.0:{XdsServerOptions.DefaultPort}).",
        };
        var xdsInsecure = new Option<bool>("--xds-insecure")
        {
            Description = "Serve xDS as plaintext h2c and let any client read any waypoint (development only; waypoint local's in-process server is plaintext the same way). Waypoint bootstraps then dial plaintext, on 15010 unless Waypoint:Controller:XdsPort says otherwise.",
        };
        var healthAddress = new Option<string>("--health-address")
        {
            Description = "ip:port of /healthz/live and /healthz/ready (HTTP/1.1, for the kubelet) and the debug API that waypoint status/config/describe read (loopback, or a bearer token RBAC allows); empty disables. /debug/xds answers here only on a loopback address (kubectl port-forward).",
            DefaultValueFactory = _ => "0.0.0.0:15021",
        };
        var metricsAddress = new Option<string>("--metrics-address")
        {
            Description = "ip:port of the Prometheus endpoint /metrics (istiod's 15014: pushes, NACKs, connected Envoys, reconciles, translation); empty disables.",
            DefaultValueFactory = _ => "0.0.0.0:15014",
        };
        var command = new Command("controller", "Run the Kubernetes controller and the xDS server for waypoint Envoys.");
        command.Options.Add(metricsAddress);
        command.Options.Add(xdsAddress);
        command.Options.Add(xdsInsecure);
        command.Options.Add(healthAddress);
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var insecure = parseResult.GetValue(xdsInsecure);
            IPEndPoint xds;
            IPEndPoint? health = null;
            IPEndPoint? metrics = null;
            try
            {
                if (parseResult.GetValue(metricsAddress) is { Length: > 0 } metricsText)
                {
                    metrics = XdsServerOptions.ParseEndPoint(metricsText);
                }

                xds = XdsServerOptions.ParseEndPoint(parseResult.GetValue(xdsAddress) is { Length: > 0 } xdsText
                    ? xdsText
                    : $"0.0.0.0:{(insecure ? XdsServerOptions.DefaultPort : XdsServerOptions.DefaultSecurePort)}");
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

            await RunAsync(xds, insecure, health, metrics, cancellationToken).ConfigureAwait(false);
            return 0;
        });
        return command;
    }

    private static async Task RunAsync(IPEndPoint xds, bool insecure, IPEndPoint? health, IPEndPoint? metrics, CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder();

        // One switch for both ends: the server's transport and what the rendered bootstraps dial.
        insecure |= builder.Configuration.GetValue<bool>("Waypoint:Controller:XdsPlaintext");
        builder.Services.AddWaypointXdsServer(o =>
        {
            o.ListenEndPoint = xds;
            o.Transport = insecure ? XdsTransportSecurity.Plaintext : XdsTransportSecurity.MutualTls;
        });
        builder.Services.AddSingleton<IWaypointConfigPublisher, XdsConfigPublisher>();
        builder.Services.AddWaypointController();
        builder.Services.Configure<WaypointControllerOptions>(builder.Configuration.GetSection("Waypoint:Controller"));
        var xdsPortConfigured = builder.Configuration["Waypoint:Controller:XdsPort"] is not null;
        builder.Services.PostConfigure<WaypointControllerOptions>(o =>
        {
            o.XdsPlaintext = insecure;
            if (insecure && !xdsPortConfigured)
            {
                o.XdsPort = XdsServerOptions.DefaultPort;
            }
        });
        if (!insecure)
        {
            // The controller's own identity, obtained exactly as a waypoint agent obtains a pod's.
            builder.Services.AddWorkloadCertificate(_ => { });
            builder.Services.AddOptions<AgentOptions>().Configure<IOptions<WaypointControllerOptions>>((certificate, controller) => ConfigureIdentity(certificate, controller.Value));
            builder.Services.AddSingleton<IXdsIdentityGroups, WaypointIdentityGroups>();
        }

        if (metrics is not null)
        {
            builder.Services.AddWaypointPrometheus(Waypoint.Xds.Diagnostics.XdsMetrics.MeterName, ControllerMetrics.MeterName, AgentMetrics.MeterName);
        }

        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.ListenWaypointXds(xds);
            if (health is not null)
            {
                kestrel.Listen(health, o => o.Protocols = HttpProtocols.Http1);
            }

            if (metrics is not null)
            {
                kestrel.Listen(metrics, o => o.Protocols = HttpProtocols.Http1);
            }
        });

        var app = builder.Build();
        if (metrics is not null)
        {
            app.UseWaypointPrometheus(metrics.Port, "/metrics");
        }

        app.MapWaypointXds();
        if (health is not null)
        {
            // waypoint status / config / describe read these; loopback, or a bearer token RBAC allows (DebugAccessReviewer).
            app.MapWaypointControllerDebug(health.Port);
        }

        app.MapGet("/healthz/live", () => Results.Text("live"));
        // Ready = the informers synced and the first snapshot is published (an Envoy connecting now gets its
        // configuration, not an empty one) and, over mutual TLS, istiod's certificate is served.
        app.MapGet("/healthz/ready", (IHostApplicationLifetime lifetime, WaypointControllerReadiness controller, IServiceProvider services) =>
            lifetime.ApplicationStarted.IsCancellationRequested && controller.IsReady
            && (insecure || services.GetRequiredService<XdsServerTls>().IsReady)
                ? Results.Text("ready")
                : Results.Text("starting", statusCode: StatusCodes.Status503ServiceUnavailable));
        await app.RunAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The controller's certificate settings: its namespace and ServiceAccount, the mesh and istiod's CA; files and cluster id as the agent reads them.</summary>
    private static void ConfigureIdentity(AgentOptions certificate, WaypointControllerOptions controller)
    {
        certificate.TrustDomain = controller.TrustDomain;
        certificate.Namespace = controller.Namespace;
        certificate.ServiceAccount = controller.ServiceAccount;
        certificate.CaAddress = controller.IstioCaAddress;
        certificate.CaConnectAddress = Env("CA_CONNECT_ADDR");
        certificate.RootCertPath = Env("CA_ROOT_CERT") ?? AgentOptions.DefaultRootCertPath;
        certificate.TokenPath = Env("ISTIO_TOKEN_PATH") ?? AgentOptions.DefaultTokenPath;
        certificate.ClusterId = Env("CLUSTER_ID") ?? certificate.ClusterId;

        static string? Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } value ? value : null;
    }
}
