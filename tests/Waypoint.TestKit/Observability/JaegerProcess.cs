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

    private readonly ObservedProcess _process;

    private JaegerProcess(ObservedProcess process, int otlpGrpcPort, int queryPort)
    {
        _process = process;
        OtlpGrpcPort = otlpGrpcPort;
        Query = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{queryPort}/"), Timeout = TimeSpan.FromSeconds(10) };
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
        var (otlpGrpc, otlpHttp, query, queryGrpc, health) = (ObservedProcess.FreePort(), ObservedProcess.FreePort(), ObservedProcess.FreePort(), ObservedProcess.FreePort(), ObservedProcess.FreePort());
        var config = Path.Combine(directory, "jaeger.yaml");
        await File.WriteAllTextAsync(config, Config(otlpGrpc, otlpHttp, query, queryGrpc, health), cancellationToken).ConfigureAwait(false);
        var start = new ProcessStartInfo(binary);
        start.ArgumentList.Add("--config");
        start.ArgumentList.Add(config);
        var process = ObservedProcess.Start("Jaeger", start, directory);
        var jaeger = new JaegerProcess(process, otlpGrpc, query);
        try
        {
            await process.WaitUntilReadyAsync(jaeger.ReadyAsync, cancellationToken).ConfigureAwait(false);
            return jaeger;
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

    public string OutputTail() => _process.OutputTail();

    public async ValueTask DisposeAsync()
    {
        Query.Dispose();
        await _process.DisposeAsync().ConfigureAwait(false);
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
