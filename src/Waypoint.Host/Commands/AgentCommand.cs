using System.Collections;
using System.CommandLine;
using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Waypoint.Agent;
using Waypoint.Agent.Sds;

namespace Waypoint.Host.Commands;

/// <summary>
/// <c>waypoint agent</c>: runs beside Envoy in a waypoint pod. Gets the pod's SPIFFE certificate from istiod, rotates
/// it, serves it over SDS on a Unix socket, and answers <c>/healthz/ready</c> (200 once a valid certificate is
/// installed and SDS listens, and, with <c>--envoy-admin</c>, once Envoy is LIVE with its <c>connect_terminate</c> listener
/// from the control plane) and <c>/healthz/live</c> on the health port, and <c>/drain</c> for the pod's preStop hooks
/// (Envoy's graceful listener drain, answered when the drain period is over). Flags fall back to environment variables.
/// </summary>
internal sealed class AgentCommand : IWaypointCommand
{
    public Command Build()
    {
        var trustDomain = Opt("--trust-domain", "TRUST_DOMAIN", "SPIFFE trust domain.", "cluster.local");
        var ns = Opt("--namespace", "POD_NAMESPACE", "The pod's namespace.", null);
        var serviceAccount = Opt("--service-account", "SERVICE_ACCOUNT", "The pod's service account.", null);
        var caAddress = Opt("--ca-address", "CA_ADDR", "istiod's CA, host:port (the host is the TLS name checked).", AgentOptions.DefaultCaAddress);
        var caConnect = Opt("--ca-connect-address", "CA_CONNECT_ADDR", "Optional ip:port to dial instead of resolving the CA host.", null);
        var clusterId = Opt("--cluster-id", "CLUSTER_ID", "Sent as the clusterid header.", "Kubernetes");
        var rootCert = Opt("--root-cert", "CA_ROOT_CERT", "Mesh root(s) PEM used to verify istiod.", AgentOptions.DefaultRootCertPath);
        var token = Opt("--token-path", "ISTIO_TOKEN_PATH", "Projected ServiceAccount token (audience istio-ca).", AgentOptions.DefaultTokenPath);
        var keyType = Opt("--key-type", "KEY_TYPE", "ecdsa (P-256) or rsa (2048).", "ecdsa");
        var ttl = Opt("--ttl", "SECRET_TTL", "Requested certificate lifetime: 24h, 90m, 3600s or seconds.", "24h");
        var socket = Opt("--socket-path", "SDS_SOCKET_PATH", "SDS Unix socket shared with Envoy.", AgentOptions.DefaultSocketPath);
        var healthPort = Opt("--health-port", "AGENT_HEALTH_PORT", "Port of /healthz/ready and /healthz/live (0 disables).", "15020");
        var envoyAdmin = Opt("--envoy-admin", "ENVOY_ADMIN_ADDRESS", "The pod's Envoy admin API, host:port; readiness then requires Envoy's listeners, and /drain drains it. Empty: neither.", null);
        var drainDuration = Opt("--drain-duration", "DRAIN_DURATION", "How long /drain lets connections finish (match Envoy's --drain-time-s).", "20s");
        var transformationSocket = Opt(
            "--transformation-socket",
            "TRANSFORMATION_SOCKET_PATH",
            "Unix socket of the TrafficPolicy transformation service (Envoy ext_proc), shared with Envoy; empty disables.",
            Waypoint.Transformation.Compilation.TransformationExtProc.DefaultSocketPath);

        var command = new Command("agent", "Run the workload identity agent beside Envoy: istiod certificate, rotation, SDS.");
        foreach (var option in new[] { trustDomain, ns, serviceAccount, caAddress, caConnect, clusterId, rootCert, token, keyType, ttl, socket, healthPort, envoyAdmin, drainDuration, transformationSocket })
        {
            command.Options.Add(option);
        }

        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var output = parseResult.InvocationConfiguration.Error;
            var problems = new List<string>();
            var options = new AgentOptions
            {
                TrustDomain = parseResult.GetValue(trustDomain)!,
                Namespace = parseResult.GetValue(ns) ?? string.Empty,
                ServiceAccount = parseResult.GetValue(serviceAccount) ?? string.Empty,
                CaAddress = parseResult.GetValue(caAddress)!,
                CaConnectAddress = parseResult.GetValue(caConnect),
                ClusterId = parseResult.GetValue(clusterId)!,
                RootCertPath = parseResult.GetValue(rootCert)!,
                TokenPath = parseResult.GetValue(token)!,
                SocketPath = parseResult.GetValue(socket)!,
            };
            switch (parseResult.GetValue(keyType)?.ToUpperInvariant())
            {
                case "ECDSA" or "EC" or "P256":
                    options.KeyType = WorkloadKeyType.EcdsaP256;
                    break;
                case "RSA":
                    options.KeyType = WorkloadKeyType.Rsa2048;
                    break;
                default:
                    problems.Add($"--key-type must be ecdsa or rsa, not '{parseResult.GetValue(keyType)}'.");
                    break;
            }

            if (TryParseDuration(parseResult.GetValue(ttl), out var lifetime))
            {
                options.CertificateTtl = lifetime;
            }
            else
            {
                problems.Add($"--ttl '{parseResult.GetValue(ttl)}' is not a duration (24h, 90m, 3600s).");
            }

            if (!int.TryParse(parseResult.GetValue(healthPort), NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port > 65535)
            {
                problems.Add($"--health-port '{parseResult.GetValue(healthPort)}' is not a port.");
            }

            foreach (DictionaryEntry variable in Environment.GetEnvironmentVariables())
            {
                if (variable.Key is string name && name.StartsWith("CA_HEADER_", StringComparison.Ordinal) && name.Length > "CA_HEADER_".Length)
                {
                    options.CaHeaders[name["CA_HEADER_".Length..].ToLowerInvariant().Replace('_', '-')] = variable.Value as string ?? string.Empty;
                }
            }

            if (!TryParseDuration(parseResult.GetValue(drainDuration), out var drain))
            {
                problems.Add($"--drain-duration '{parseResult.GetValue(drainDuration)}' is not a duration (20s, 1m).");
            }

            Uri? admin = null;
            if (parseResult.GetValue(envoyAdmin) is { Length: > 0 } adminAddress && !Uri.TryCreate($"http://{adminAddress}/", UriKind.Absolute, out admin))
            {
                problems.Add($"--envoy-admin '{adminAddress}' is not host:port.");
            }

            problems.AddRange(options.Validate());
            if (problems.Count > 0)
            {
                foreach (var problem in problems)
                {
                    await output.WriteLineAsync("waypoint agent: " + problem).ConfigureAwait(false);
                }

                return 2;
            }

            await RunAsync(options, port, parseResult.GetValue(transformationSocket), admin, drain, cancellationToken).ConfigureAwait(false);
            return 0;
        });
        return command;
    }

    internal static async Task RunAsync(AgentOptions options, int healthPort, string? transformationSocket, Uri? envoyAdmin, TimeSpan drainDuration, CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Services.AddWaypointAgent(o => Copy(options, o));
        var transformation = !string.IsNullOrEmpty(transformationSocket);
        if (transformation)
        {
            builder.Services.AddWaypointTransformation();
        }

        builder.Services.AddWaypointPrometheus(AgentMetrics.MeterName, Waypoint.Transformation.Processing.TransformationMetrics.MeterName);

        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            if (healthPort > 0)
            {
                k.ListenAnyIP(healthPort, l => l.Protocols = HttpProtocols.Http1);
            }

            if (transformation)
            {
                k.ListenWaypointTransformation(transformationSocket);
            }
        });
        var app = builder.Build();
        if (transformation)
        {
            app.MapWaypointTransformation(); // answers only on the Unix socket
        }

        var manager = app.Services.GetRequiredService<WorkloadCertificateManager>();
        var sds = app.Services.GetRequiredService<SdsServer>();
        using var envoy = envoyAdmin is null ? null : new Waypoint.Agent.Proxy.EnvoyAdminClient(envoyAdmin);
        var drain = envoy is null ? null : new Waypoint.Agent.Proxy.EnvoyDrain(envoy, drainDuration, TimeProvider.System);
        string[] requiredListeners = [Waypoint.Agent.Proxy.EnvoyAdminClient.ConnectTerminateListener];
        if (healthPort > 0)
        {
            // istio-agent's merged scrape: Envoy's stats (from its admin API), the request metrics rendered from Envoy's raw ones, then the agent's own.
            var scrapeLogger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Waypoint.Agent.Prometheus");
            app.UseMergedPrometheus(healthPort, Waypoint.Xds.Bootstrap.EnvoyBootstrapBuilder.PrometheusPath, envoy is null ? null : async ct =>
            {
                try
                {
                    return await envoy.GetPrometheusStatsAsync(ct).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
                {
                    AgentCommandLog.EnvoyStatsUnavailable(scrapeLogger, ex.Message);
                    return null;
                }
            });
        }

        app.MapGet("/healthz/live", () => Results.Ok("live"));
        app.MapGet("/healthz/ready", async (CancellationToken ct) =>
        {
            if (!manager.IsReady || !sds.IsListening)
            {
                return Results.Text(manager.LastError is { } error ? "not ready: " + error : "not ready: no valid certificate yet", statusCode: StatusCodes.Status503ServiceUnavailable);
            }

            if (drain?.Started == true)
            {
                return Results.Text("not ready: draining", statusCode: StatusCodes.Status503ServiceUnavailable);
            }

            var proxy = envoy is null ? null : await envoy.CheckReadyAsync(requiredListeners, ct).ConfigureAwait(false);
            return proxy is null or { IsReady: true }
                ? Results.Ok("ready")
                : Results.Text("not ready: " + proxy.Reason, statusCode: StatusCodes.Status503ServiceUnavailable);
        });

        // preStop (httpGet) of both containers: drains Envoy and answers when the drain period is over.
        app.MapGet("/drain", async (CancellationToken ct) =>
        {
            if (drain is null)
            {
                return Results.Text("no Envoy to drain", statusCode: StatusCodes.Status404NotFound);
            }

            await drain.DrainAsync(ct).ConfigureAwait(false);
            return Results.Ok("drained");
        });
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        await app.WaitForShutdownAsync(cancellationToken).ConfigureAwait(false);
    }

    internal static bool TryParseDuration(string? value, out TimeSpan duration)
    {
        duration = default;
        if (string.IsNullOrWhiteSpace(value))
        {
            return false;
        }

        var unit = value[^1];
        var number = char.IsDigit(unit) ? value : value[..^1];
        if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var amount) || amount <= 0)
        {
            return false;
        }

        duration = unit switch
        {
            'h' => TimeSpan.FromHours(amount),
            'm' => TimeSpan.FromMinutes(amount),
            's' => TimeSpan.FromSeconds(amount),
            'd' => TimeSpan.FromDays(amount),
            _ when char.IsDigit(unit) => TimeSpan.FromSeconds(amount),
            _ => TimeSpan.Zero,
        };
        return duration > TimeSpan.Zero;
    }

    private static void Copy(AgentOptions from, AgentOptions to)
    {
        to.TrustDomain = from.TrustDomain;
        to.Namespace = from.Namespace;
        to.ServiceAccount = from.ServiceAccount;
        to.CaAddress = from.CaAddress;
        to.CaConnectAddress = from.CaConnectAddress;
        to.ClusterId = from.ClusterId;
        to.RootCertPath = from.RootCertPath;
        to.TokenPath = from.TokenPath;
        to.KeyType = from.KeyType;
        to.CertificateTtl = from.CertificateTtl;
        to.SocketPath = from.SocketPath;
        foreach (var (name, value) in from.CaHeaders)
        {
            to.CaHeaders[name] = value;
        }
    }

    private static Option<string?> Opt(string name, string environmentVariable, string description, string? fallback) => new(name)
    {
        Description = $"{description} Env: {environmentVariable}.",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable(environmentVariable) is { Length: > 0 } fromEnv ? fromEnv : fallback,
    };
}

internal static partial class AgentCommandLog
{
    [LoggerMessage(Level = LogLevel.Warning, EventId = 1, EventName = "EnvoyStatsUnavailable", Message = "Envoy's stats could not be read from its admin API; the scrape has the agent's own metrics only: {Reason}")]
    public static partial void EnvoyStatsUnavailable(ILogger logger, string reason);
}
