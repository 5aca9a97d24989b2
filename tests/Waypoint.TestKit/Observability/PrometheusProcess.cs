using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;

namespace Waypoint.TestKit.Observability;

/// <summary>
/// A real Prometheus 3 (<c>../shared/observability</c>) with a configuration of the test's, its TSDB in a temporary
/// folder and its HTTP API on a loopback port. Optionally inside another network namespace (a box's: then it sees the
/// box's API server and pod addresses as a Prometheus in that cluster would), started with <c>nsenter --net</c>; the
/// caller then passes a handler whose connections are opened in that namespace.
/// </summary>
public sealed class PrometheusProcess : IAsyncDisposable
{
    private readonly ObservedProcess _process;

    private PrometheusProcess(ObservedProcess process, HttpClient api)
    {
        _process = process;
        Api = api;
    }

    /// <summary>The HTTP API (<c>/api/v1/query</c>, <c>/api/v1/targets</c>).</summary>
    public HttpClient Api { get; }

    /// <summary>The folder holding the configuration (files the configuration names, such as a kubeconfig, may go here too).</summary>
    public string Directory => _process.Directory;

    /// <summary>
    /// Writes the configuration <paramref name="config"/> renders from the folder it lives in, starts Prometheus and
    /// waits until it is ready (<c>/-/ready</c>).
    /// </summary>
    /// <param name="config">The YAML configuration, given the folder (for files it refers to).</param>
    /// <param name="enterNamespace">
    /// A command that runs its arguments in another network namespace and execs them in place (e.g. <c>nsenter
    /// --net=/proc/&lt;pid&gt;/ns/net --</c>), or null to run Prometheus here.
    /// </param>
    /// <param name="handler">How to reach Prometheus' loopback port: a handler connecting inside that namespace; null for a plain one.</param>
    public static async Task<PrometheusProcess> StartAsync(Func<string, string> config, IReadOnlyList<string>? enterNamespace = null, HttpMessageHandler? handler = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(config);
        var binary = await ObservabilityAssets.LocateAsync("prometheus", cancellationToken).ConfigureAwait(false);
        var directory = System.IO.Directory.CreateTempSubdirectory("waypoint-prometheus-").FullName;
        var configPath = Path.Combine(directory, "prometheus.yml");
        await File.WriteAllTextAsync(configPath, config(directory), cancellationToken).ConfigureAwait(false);
        // A port free here is as good as any in the box's namespace, where nothing else listens on loopback's high ports.
        var port = ObservedProcess.FreePort();
        var start = new ProcessStartInfo(enterNamespace is { Count: > 0 } ? enterNamespace[0] : binary);
        if (enterNamespace is { Count: > 0 })
        {
            foreach (var argument in enterNamespace.Skip(1))
            {
                start.ArgumentList.Add(argument);
            }

            start.ArgumentList.Add(binary);
        }

        start.ArgumentList.Add($"--config.file={configPath}");
        start.ArgumentList.Add($"--storage.tsdb.path={Path.Combine(directory, "data")}");
        start.ArgumentList.Add(string.Create(CultureInfo.InvariantCulture, $"--web.listen-address=127.0.0.1:{port}"));
        start.ArgumentList.Add("--log.level=info");
        var process = ObservedProcess.Start("Prometheus", start, directory);
        var api = new HttpClient(handler ?? new SocketsHttpHandler { UseProxy = false }) { BaseAddress = new Uri($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}/"), Timeout = TimeSpan.FromSeconds(10) };
        var prometheus = new PrometheusProcess(process, api);
        try
        {
            await process.WaitUntilReadyAsync(prometheus.ReadyAsync, cancellationToken).ConfigureAwait(false);
            return prometheus;
        }
        catch
        {
            await prometheus.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>An instant query's result vector (<c>data.result</c>: each element's <c>metric</c> labels and <c>value</c>).</summary>
    public async Task<JsonArray> QueryAsync(string promql, CancellationToken cancellationToken = default)
    {
        using var response = await Api.GetAsync(new Uri("api/v1/query?query=" + Uri.EscapeDataString(promql), UriKind.Relative), cancellationToken).ConfigureAwait(false);
        var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"Prometheus refused the query {promql}: {(int)response.StatusCode} {body}");
        }

        return JsonNode.Parse(body)?["data"]?["result"] as JsonArray ?? throw new InvalidOperationException($"Prometheus answered the query {promql} without data.result: {body}");
    }

    /// <summary>Repeats <paramref name="promql"/> until its result satisfies <paramref name="condition"/> (scrapes come every interval); returns that result.</summary>
    public async Task<JsonArray> WaitForQueryAsync(string promql, Func<JsonArray, bool> condition, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(condition);
        var deadline = Stopwatch.StartNew();
        JsonArray? last = null;
        while (deadline.Elapsed < timeout)
        {
            last = await QueryAsync(promql, cancellationToken).ConfigureAwait(false);
            if (condition(last))
            {
                return last;
            }

            await Task.Delay(500, cancellationToken).ConfigureAwait(false);
        }

        throw new TimeoutException($"Prometheus' answer to {promql} did not become as expected within {timeout.TotalSeconds} s; last: {last?.ToJsonString() ?? "none"}\ntargets: {await TargetsSummaryAsync(cancellationToken).ConfigureAwait(false)}\n{OutputTail()}");
    }

    /// <summary>Every active target: its scrape URL, health and last error (why a target is down).</summary>
    public async Task<string> TargetsSummaryAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            var body = JsonNode.Parse(await Api.GetStringAsync(new Uri("api/v1/targets?state=active", UriKind.Relative), cancellationToken).ConfigureAwait(false));
            var targets = body?["data"]?["activeTargets"]?.AsArray() ?? [];
            return string.Join("; ", targets.Select(t => $"{t?["scrapeUrl"]} {t?["health"]} {t?["lastError"]}"));
        }
        catch (HttpRequestException e)
        {
            return $"unavailable ({e.Message})";
        }
    }

    public string OutputTail() => _process.OutputTail();

    public async ValueTask DisposeAsync()
    {
        Api.Dispose();
        await _process.DisposeAsync().ConfigureAwait(false);
    }

    private async Task<bool> ReadyAsync(CancellationToken cancellationToken)
    {
        try
        {
            using var response = await Api.GetAsync(new Uri("-/ready", UriKind.Relative), cancellationToken).ConfigureAwait(false);
            return response.IsSuccessStatusCode;
        }
        catch (Exception e) when (e is HttpRequestException or SocketException || (e is TaskCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return false;
        }
    }
}
