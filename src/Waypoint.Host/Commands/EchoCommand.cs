using System.CommandLine;
using System.Net;
using Waypoint.Local.Echo;

namespace Waypoint.Host.Commands;

/// <summary>
/// <c>waypoint echo</c>: the echo app of <c>waypoint local</c> as a process of its own (the <c>waypoint/echo</c> image
/// of the box's node): an HTTP echo answering JSON about each request, and a line echo on TCP ports. Runs until
/// SIGTERM or Ctrl-C.
/// </summary>
internal sealed class EchoCommand : IWaypointCommand
{
    public Command Build()
    {
        var httpPorts = new Option<int[]>("--http-port") { Description = "A port answered with the HTTP echo (repeatable; default 8080, or ECHO_HTTP_PORTS=8080,9090).", AllowMultipleArgumentsPerToken = true };
        var tcpPorts = new Option<int[]>("--tcp-port") { Description = "A port answered with the TCP line echo (repeatable; or ECHO_TCP_PORTS).", AllowMultipleArgumentsPerToken = true };
        var address = new Option<string>("--address") { Description = "The address to listen on.", DefaultValueFactory = _ => "0.0.0.0" };
        var pod = new Option<string?>("--pod") { Description = "The pod name in replies (default POD_NAME, else the host name)." };
        var ns = new Option<string?>("--namespace") { Description = "The namespace in replies (default POD_NAMESPACE, else default)." };
        var httpbin = new Option<bool>("--httpbin") { Description = "Also answer go-httpbin's /headers, /status/<code>, /delay/<s> and /unstable (the go-httpbin image of the box's node); the HTTP port defaults to PORT." };
        var command = new Command("echo", "Run the echo app (HTTP and TCP echo) until SIGTERM.") { httpPorts, tcpPorts, address, pod, ns, httpbin };
        command.SetAction(async (parseResult, invocationToken) =>
        {
            var output = parseResult.InvocationConfiguration.Output;
            var error = parseResult.InvocationConfiguration.Error;
            if (!IPAddress.TryParse(parseResult.GetValue(address), out var listen))
            {
                await error.WriteLineAsync($"waypoint echo: --address '{parseResult.GetValue(address)}' is not an IP address.").ConfigureAwait(false);
                return 2;
            }

            // go-httpbin listens on PORT (default 8080); the echo's own variable still wins when set.
            var httpbinMode = parseResult.GetValue(httpbin);
            var portVariable = httpbinMode && Environment.GetEnvironmentVariable("ECHO_HTTP_PORTS") is null ? "PORT" : "ECHO_HTTP_PORTS";
            if (!TryPorts(parseResult.GetValue(httpPorts), portVariable, [8080], out var http) || !TryPorts(parseResult.GetValue(tcpPorts), "ECHO_TCP_PORTS", [], out var tcp))
            {
                await error.WriteLineAsync("waypoint echo: ports must be numbers 1..65535.").ConfigureAwait(false);
                return 2;
            }

            var options = new EchoAppOptions
            {
                Pod = parseResult.GetValue(pod) ?? Environment.GetEnvironmentVariable("POD_NAME") ?? Environment.MachineName,
                Namespace = parseResult.GetValue(ns) ?? Environment.GetEnvironmentVariable("POD_NAMESPACE") ?? "default",
                Address = listen,
                HttpPorts = http,
                TcpPorts = tcp,
                Httpbin = httpbinMode,
            };

            using var stop = CancellationTokenSource.CreateLinkedTokenSource(invocationToken);
            using var signals = ShutdownSignals.CancelOn(stop);

            var recorder = new EchoRecorder(capacity: 100);
            recorder.Recorded += reply => output.WriteLine($"{reply.Method} {reply.Path} from {reply.Host} -> {reply.Status}");
            await using var app = await EchoApp.StartAsync(options, recorder, stop.Token).ConfigureAwait(false);
            await output.WriteLineAsync($"echo {options.Namespace}/{options.Pod} listening on {listen} http {string.Join(',', http)} tcp {string.Join(',', tcp)}").ConfigureAwait(false);
            try
            {
                await Task.Delay(Timeout.Infinite, stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                await output.WriteLineAsync("echo stopping (signal)").ConfigureAwait(false);
            }

            return 0;
        });
        return command;
    }

    private static bool TryPorts(int[]? given, string variable, int[] fallback, out IReadOnlyList<int> ports)
    {
        if (given is { Length: > 0 })
        {
            ports = given;
        }
        else if (Environment.GetEnvironmentVariable(variable) is { Length: > 0 } list)
        {
            var parsed = new List<int>();
            foreach (var item in list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (!int.TryParse(item, System.Globalization.CultureInfo.InvariantCulture, out var port))
                {
                    ports = [];
                    return false;
                }

                parsed.Add(port);
            }

            ports = parsed;
        }
        else
        {
            ports = fallback;
        }

        return ports.All(p => p is > 0 and <= 65535);
    }
}
