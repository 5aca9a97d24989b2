using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;

namespace Waypoint.TestKit.Observability;

/// <summary>
/// A real Jaeger v2 all-in-one (OpenTelemetry-collector based; <c>../shared/observability</c>): OTLP receivers, in-memory
/// storage and the query API, every endpoint on its own ephemeral loopback port (a second instance may start while a
/// previous one is still exiting).
/// </summary>
public sealed class JaegerProcess : IAsyncDisposable
{
    /// <summary>Folder of the observability assets (its <c>unpack</c> script), when not <c>../shared/observability</c>.</summary>
    public const string AssetsVariable = ObservabilityAssets.AssetsVariable;

    private const int OutputLimit = 200;
    private readonly Process _process;
    private readonly string _directory;
    private readonly Queue<string> _output = new();

    private JaegerProcess(Process process, string directory, int otlpGrpcPort, int queryPort)
    {
        _process = process;
        _directory = directory;
        OtlpGrpcPort = otlpGrpcPort;
        Query = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{queryPort}/"), Timeout = TimeSpan.FromSeconds(10) };
        _process.OutputDataReceived += (_, e) => Remember(e.Data);
        _process.ErrorDataReceived += (_, e) => Remember(e.Data);
    }

    /// <summary>Where OTLP/gRPC spans go (127.0.0.1).</summary>
    public int OtlpGrpcPort { get; }

    /// <summary>The query API (<c>/api/traces</c>, <c>/api/services</c>).</summary>
    public HttpClient Query { get; }

    /// <summary>The jaeger binary (<see cref="ObservabilityAssets.LocateAsync"/>).</summary>
    public static Task<string> LocateAsync(CancellationToken cancellationToken = default) => ObservabilityAssets.LocateAsync("jaeger", cancellationToken);

    /// <summary>Starts Jaeger and waits until its query API answers and its OTLP/gRPC port accepts connections.</summary>
    public static async Task<JaegerProcess> StartAsync(CancellationToken cancellationToken = default)
    {
        var binary = await LocateAsync(cancellationToken).ConfigureAwait(false);
        var directory = Directory.CreateTempSubdirectory("waypoint-jaeger-").FullName;
        var (otlpGrpc, otlpHttp, query, queryGrpc, health) = (FreePort(), FreePort(), FreePort(), FreePort(), FreePort());
        var config = Path.Combine(directory, "jaeger.yaml");
        await File.WriteAllTextAsync(config, Config(otlpGrpc, otlpHttp, query, queryGrpc, health), cancellationToken).ConfigureAwait(false);
        var start = new ProcessStartInfo(binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = directory,
        };
        start.ArgumentList.Add("--config");
        start.ArgumentList.Add(config);
        var process = Process.Start(start) ?? throw new InvalidOperationException($"{binary} did not start.");
        var jaeger = new JaegerProcess(process, directory, otlpGrpc, query);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(60));
            while (!await jaeger.ReadyAsync(timeout.Token).ConfigureAwait(false))
            {
                if (process.HasExited)
                {
                    throw new InvalidOperationException($"Jaeger exited with {process.ExitCode}:\n{jaeger.OutputTail()}");
                }

                await Task.Delay(200, timeout.Token).ConfigureAwait(false);
            }

            return jaeger;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            var tail = jaeger.OutputTail();
            await jaeger.DisposeAsync().ConfigureAwait(false);
            throw new TimeoutException($"Jaeger did not become ready within 60 s:\n{tail}");
        }
        catch
        {
            await jaeger.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The trace of <paramref name="traceId"/> (32 hex digits) from the query API, or null while Jaeger does not have it.</summary>
    public async Task<JsonNode?> GetTraceAsync(string traceId, CancellationToken cancellationToken = default)
    {
        using var response = await Query.GetAsync($"api/traces/{traceId}", cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        response.EnsureSuccessStatusCode();
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false));
        return body?["data"] is JsonArray { Count: > 0 } data ? data[0] : null;
    }

    /// <summary>Polls <see cref="GetTraceAsync"/> until <paramref name="condition"/> holds for the trace (the exporter batches spans).</summary>
    public async Task<JsonNode> WaitForTraceAsync(string traceId, Func<JsonNode, bool> condition, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var deadline = DateTime.UtcNow + timeout;
        JsonNode? last = null;
        while (DateTime.UtcNow < deadline)
        {
            last = await GetTraceAsync(traceId, cancellationToken).ConfigureAwait(false);
            if (last is not null && condition(last))
            {
                return last;
            }

            await Task.Delay(250, cancellationToken).ConfigureAwait(false);
        }

        throw new TimeoutException($"Jaeger has no trace {traceId} as expected after {timeout.TotalSeconds} s; last answer: {last?.ToJsonString() ?? "none"}\n{OutputTail()}");
    }

    public string OutputTail()
    {
        lock (_output)
        {
            return "--- jaeger output (tail) ---\n" + string.Join('\n', _output);
        }
    }

    public async ValueTask DisposeAsync()
    {
        Query.Dispose();
        if (!_process.HasExited)
        {
            // Its own ports, in-memory storage: nothing to shut down cleanly, and SIGTERM takes it 7-12 s.
            _process.Kill();
            await _process.WaitForExitAsync().ConfigureAwait(false);
        }

        _process.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private async Task<bool> ReadyAsync(CancellationToken cancellationToken)
    {
        try
        {
            using var response = await Query.GetAsync("api/services", cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                return false;
            }

            using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, OtlpGrpcPort), cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (e is HttpRequestException or SocketException || (e is TaskCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return false;
        }
    }

    private void Remember(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.Enqueue(line);
            while (_output.Count > OutputLimit)
            {
                _output.Dequeue();
            }
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>../shared/observability/jaeger-loopback.yaml's pipeline, on the given ports.</summary>
    private static string Config(int otlpGrpc, int otlpHttp, int query, int queryGrpc, int health) => $$"""
        service:
          extensions: [jaeger_storage, jaeger_query, healthcheckv2]
          pipelines:
            traces:
              receivers: [otlp]
              processors: [batch]
              exporters: [jaeger_storage_exporter]
          telemetry:
            metrics:
              level: none
        extensions:
          healthcheckv2:
            use_v2: true
            http:
              endpoint: 127.0.0.1:{{health}}
          jaeger_query:
            storage:
              traces: memstore
            http:
              endpoint: 127.0.0.1:{{query}}
            grpc:
              endpoint: 127.0.0.1:{{queryGrpc}}
          jaeger_storage:
            backends:
              memstore:
                memory:
                  max_traces: 10000
        receivers:
          otlp:
            protocols:
              grpc:
                endpoint: 127.0.0.1:{{otlpGrpc}}
              http:
                endpoint: 127.0.0.1:{{otlpHttp}}
        processors:
          batch:
            timeout: 200ms
        exporters:
          jaeger_storage_exporter:
            trace_storage: memstore
        """;
}
