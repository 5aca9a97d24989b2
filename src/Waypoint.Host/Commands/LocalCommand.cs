using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;
using Waypoint.Local;
using Waypoint.Local.Envoy;
using Waypoint.Local.State;

namespace Waypoint.Host.Commands;

/// <summary>
/// <c>waypoint local &lt;dir&gt;</c>: ambient in a box (the main job, <c>make run</c>); <c>waypoint local curl &lt;url&gt;</c>
/// sends a request into that mesh through the client-side HBONE originator.
/// </summary>
internal sealed class LocalCommand : IWaypointCommand
{
    public Command Build()
    {
        var directory = new Argument<DirectoryInfo>("directory") { Description = "Directory of Kubernetes YAML: Namespaces, Services, Deployments/Pods, the waypoint Gateway, HTTPRoutes." };
        var trustDomain = new Option<string>("--trust-domain") { Description = "SPIFFE trust domain of the local mesh.", DefaultValueFactory = _ => "cluster.local" };
        var stateFile = StateFileOption();
        var envoyLogLevel = new Option<string>("--envoy-log-level") { Description = "Log level of every Envoy (trace, debug, info, warning, error).", DefaultValueFactory = _ => "warning" };
        var noWatch = new Option<bool>("--no-watch") { Description = "Do not re-apply the directory when a file changes." };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Log every step of the rig." };

        var command = new Command("local", "Run a one-machine ambient mesh of real Envoys (waypoint, HBONE originator and terminators, echo apps) from a directory of Kubernetes YAML. Ctrl-C stops everything.")
        {
            directory, trustDomain, stateFile, envoyLogLevel, noWatch, verbose,
        };
        command.Subcommands.Add(BuildCurl());
        command.SetAction(async (parseResult, invocationToken) =>
        {
            // Ctrl-C and SIGTERM stop the rig gracefully: every Envoy quits and the state file goes away.
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(invocationToken);
            using var signals = ShutdownSignals.CancelOn(stop);

            var cancellationToken = stop.Token;
            var output = parseResult.InvocationConfiguration.Output;
            var error = parseResult.InvocationConfiguration.Error;
            using var loggerFactory = LoggerFactory.Create(b => b
                .AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; })
                .SetMinimumLevel(parseResult.GetValue(verbose) ? LogLevel.Debug : LogLevel.Information)
                .AddFilter("Microsoft", LogLevel.Warning)
                .AddFilter("Grpc", LogLevel.Warning)
                .AddFilter("Waypoint.Xds", LogLevel.Warning));
            var options = new LocalRigOptions
            {
                ConfigDirectory = parseResult.GetValue(directory)!.FullName,
                TrustDomain = parseResult.GetValue(trustDomain)!,
                StateFile = parseResult.GetValue(stateFile)!,
                EnvoyLogLevel = parseResult.GetValue(envoyLogLevel)!,
                Watch = !parseResult.GetValue(noWatch),
            };

            LocalRig rig;
            try
            {
                output.WriteLine($"Starting the local mesh from {options.ConfigDirectory} ...");
                rig = await LocalRig.StartAsync(options, loggerFactory, cancellationToken).ConfigureAwait(false);
            }
            catch (EnvoyNotFoundException ex)
            {
                error.WriteLine(ex.Message);
                return 2;
            }
            catch (LocalRigException ex)
            {
                error.WriteLine(ex.Message);
                return 1;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return 130;
            }

            await using (rig.ConfigureAwait(false))
            {
                PrintSummary(rig, output);
                rig.Applied += result => output.WriteLine(result.Rejected
                    ? $"Configuration change rejected ({result.Problems.Count} problem(s)); the previous configuration keeps serving."
                    : $"Configuration {result.Generation} applied ({string.Join(", ", result.Versions.Select(v => $"{v.Key}@{ShortVersion(v.Value)}"))}).");
                try
                {
                    await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    output.WriteLine("Stopping the local mesh ...");
                }
            }

            return 0;
        });
        return command;
    }

    private static Option<string> StateFileOption() => new("--state-file")
    {
        Description = "Where the running mesh describes its services (read by `waypoint local curl`).",
        DefaultValueFactory = _ => LocalRigOptions.DefaultStateFile,
    };

    /// <summary>
    /// A short name for a snapshot version. The version joins one version per resource type, so a prefix would
    /// name only the first type (a route edit would print the same version): digest all of it instead.
    /// </summary>
    private static string ShortVersion(string version) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(version)))[..12];

    private static void PrintSummary(LocalRig rig, TextWriter output)
    {
        var topology = rig.Topology;
        output.WriteLine();
        output.WriteLine("The local mesh is up.");
        foreach (var waypoint in topology.Waypoints)
        {
            var admin = rig.Waypoints.TryGetValue(waypoint.Key, out var proxy) ? proxy.Envoy.AdminUri.ToString() : "-";
            output.WriteLine($"  waypoint {waypoint.Namespace}/{waypoint.Name}  {waypoint.Address}:15008  identity {topology.SpiffeId(waypoint.Namespace, waypoint.ServiceAccount)}  admin {admin}");
        }

        foreach (var service in topology.Services)
        {
            var via = service.Waypoint is { } w ? $"via waypoint {w.Namespace}/{w.Name}" : "direct (no waypoint)";
            output.WriteLine($"  service  {service.Hostname}  {service.Address}:{string.Join(',', service.Ports.Select(p => p.Port))}  {service.Pods.Count} pod(s)  {via}");
        }

        foreach (var problem in rig.LastApply.Problems)
        {
            output.WriteLine($"  ! {problem}");
        }

        foreach (var ignored in topology.Ignored)
        {
            output.WriteLine($"  ignored: {ignored}");
        }

        var example = topology.Services.FirstOrDefault(s => s.Waypoint is not null) ?? (topology.Services.Count > 0 ? topology.Services[0] : null);
        if (example is not null)
        {
            var port = example.Ports.Count > 0 ? example.Ports[0].Port : 80;
            output.WriteLine();
            output.WriteLine("Send a request:");
            output.WriteLine($"  waypoint local curl http://{example.Hostname}{(port == 80 ? "" : $":{port}")}/hello");
            output.WriteLine($"  (or any HTTP client to {example.Address}:{port}; the client originator listens on every Service VIP)");
        }

        output.WriteLine("Edit the YAML files to change the mesh; Ctrl-C stops everything.");
    }

    private static Command BuildCurl()
    {
        var url = new Argument<string>("url") { Description = "e.g. http://echo.demo.svc.cluster.local/hello (a Service host name, short form or VIP)." };
        var headers = new Option<string[]>("--header", "-H") { Description = "A request header, 'Name: value' (repeatable).", AllowMultipleArgumentsPerToken = false };
        var method = new Option<string?>("--request", "-X") { Description = "The request method (default GET, or POST with --data)." };
        var data = new Option<string?>("--data", "-d") { Description = "A request body." };
        var stateFile = StateFileOption();
        var curl = new Command("curl", "Send one HTTP request into the running local mesh (through the client-side HBONE originator) and print status, headers and body.")
        {
            url, headers, method, data, stateFile,
        };
        curl.SetAction(async (parseResult, cancellationToken) =>
        {
            var output = parseResult.InvocationConfiguration.Output;
            var error = parseResult.InvocationConfiguration.Error;
            var path = parseResult.GetValue(stateFile)!;
            var state = LocalRigState.TryRead(path);
            if (state is null)
            {
                error.WriteLine($"No running local mesh found ({path} is missing or unreadable). Start one with `waypoint local <directory>` (or `make run`).");
                return 2;
            }

            if (!Uri.TryCreate(parseResult.GetValue(url), UriKind.Absolute, out var target) || target.Scheme != Uri.UriSchemeHttp)
            {
                error.WriteLine($"'{parseResult.GetValue(url)}' is not an http:// URL, e.g. http://echo.demo.svc.cluster.local/hello.");
                return 2;
            }

            var service = state.Resolve(target.Host);
            if (service is null && !IPAddress.TryParse(target.Host, out _))
            {
                error.WriteLine($"'{target.Host}' is not a Service of the local mesh. Known: {string.Join(", ", state.Services.Select(s => s.Hostname))}.");
                return 2;
            }

            var address = IPAddress.Parse(service?.Address ?? target.Host);
            using var client = new HttpClient(new SocketsHttpHandler
            {
                AllowAutoRedirect = false,
                UseProxy = false,
                ConnectCallback = async (context, ct) =>
                {
                    var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                    try
                    {
                        await socket.ConnectAsync(new IPEndPoint(address, context.DnsEndPoint.Port), ct).ConfigureAwait(false);
                        return new NetworkStream(socket, ownsSocket: true);
                    }
                    catch
                    {
                        socket.Dispose();
                        throw;
                    }
                },
            })
            { Timeout = TimeSpan.FromSeconds(60) };
            var body = parseResult.GetValue(data);
            using var request = new HttpRequestMessage(new HttpMethod(parseResult.GetValue(method) ?? (body is null ? "GET" : "POST")), target);
            if (body is not null)
            {
                request.Content = new StringContent(body, Encoding.UTF8);
            }

            foreach (var header in parseResult.GetValue(headers) ?? [])
            {
                var colon = header.IndexOf(':', StringComparison.Ordinal);
                if (colon <= 0)
                {
                    error.WriteLine($"Header '{header}' is not 'Name: value'.");
                    return 2;
                }

                var name = header[..colon].Trim();
                var value = header[(colon + 1)..].Trim();
                if (!request.Headers.TryAddWithoutValidation(name, value))
                {
                    request.Content ??= new ByteArrayContent([]);
                    request.Content.Headers.TryAddWithoutValidation(name, value);
                }
            }

            try
            {
                using var response = await client.SendAsync(request, cancellationToken).ConfigureAwait(false);
                output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"HTTP/{response.Version} {(int)response.StatusCode} {response.ReasonPhrase}"));
                foreach (var (name, values) in response.Headers.Concat(response.Content.Headers))
                {
                    output.WriteLine($"{name}: {string.Join(", ", values)}");
                }

                output.WriteLine();
                output.WriteLine(await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false));
                return 0;
            }
            catch (HttpRequestException ex)
            {
                error.WriteLine($"The request to {target} ({address}) failed: {ex.Message}");
                return 7;
            }
        });
        return curl;
    }
}
