using System.Text.Json;

namespace Waypoint.Agent.Proxy;

/// <summary>Whether the Envoy beside the agent can take traffic, and why not.</summary>
public sealed record EnvoyReadiness(bool IsReady, string Reason);

/// <summary>
/// The pod's Envoy seen through its admin API on loopback (each pod has its own network namespace, so the admin API
/// never leaves the pod). Readiness is "LIVE and serving the listeners the control plane gives a waypoint": Envoy
/// also goes LIVE when its initial xDS fetch times out with nothing, and a pod that is Ready then black-holes traffic.
/// </summary>
public sealed class EnvoyAdminClient : IDisposable
{
    /// <summary>The listener that terminates HBONE; a waypoint without it serves nothing.</summary>
    public const string ConnectTerminateListener = "connect_terminate";

    private readonly HttpClient _http;

    public EnvoyAdminClient(Uri adminUri, TimeSpan? requestTimeout = null, HttpMessageHandler? handler = null)
    {
        ArgumentNullException.ThrowIfNull(adminUri);
        _http = handler is null ? new HttpClient() : new HttpClient(handler, disposeHandler: false);
        _http.BaseAddress = adminUri;
        _http.Timeout = requestTimeout ?? TimeSpan.FromSeconds(2);
    }

    /// <summary>Parses <c>host:port</c> (e.g. <c>127.0.0.1:15000</c>) into the admin API's base address.</summary>
    public static Uri ParseAddress(string address) => new($"http://{address.Trim().TrimEnd('/')}/");

    public async Task<EnvoyReadiness> CheckReadyAsync(IReadOnlyCollection<string> requiredListeners, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(requiredListeners);
        try
        {
            using var ready = await _http.GetAsync(new Uri("ready", UriKind.Relative), cancellationToken).ConfigureAwait(false);
            var state = (await ready.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false)).Trim();
            if (!ready.IsSuccessStatusCode)
            {
                return new EnvoyReadiness(false, $"Envoy is {state}");
            }

            // /listeners lists active listeners only: a listener still warming (its clusters not yet known) is absent.
            using var listeners = await _http.GetAsync(new Uri("listeners?format=json", UriKind.Relative), cancellationToken).ConfigureAwait(false);
            listeners.EnsureSuccessStatusCode();
            await using var body = await listeners.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            using var document = await JsonDocument.ParseAsync(body, cancellationToken: cancellationToken).ConfigureAwait(false);
            var active = new HashSet<string>(StringComparer.Ordinal);
            if (document.RootElement.TryGetProperty("listener_statuses", out var statuses) && statuses.ValueKind == JsonValueKind.Array)
            {
                foreach (var status in statuses.EnumerateArray())
                {
                    if (status.TryGetProperty("name", out var name) && name.GetString() is { } listenerName)
                    {
                        active.Add(listenerName);
                    }
                }
            }

            var missing = requiredListeners.Where(l => !active.Contains(l)).ToList();
            return missing.Count == 0
                ? new EnvoyReadiness(true, "Envoy is LIVE with its listeners")
                : new EnvoyReadiness(false, "Envoy has no listener " + string.Join(", ", missing) + " from the control plane yet");
        }
        catch (Exception ex) when (ex is HttpRequestException or JsonException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return new EnvoyReadiness(false, "Envoy's admin API does not answer: " + ex.Message);
        }
    }

    /// <summary>
    /// Starts Envoy's graceful drain of every listener: HTTP/2 connections (HBONE tunnels) get GOAWAY and finish their
    /// streams, HTTP/1 connections get <c>Connection: close</c>, over <c>--drain-time-s</c> per <c>--drain-strategy</c>.
    /// </summary>
    public async Task DrainListenersAsync(CancellationToken cancellationToken)
    {
        using var response = await _http.PostAsync(new Uri("drain_listeners?graceful", UriKind.Relative), content: null, cancellationToken).ConfigureAwait(false);
        response.EnsureSuccessStatusCode();
    }

    /// <summary>Envoy's own stats in Prometheus' text format (<c>/stats/prometheus</c>), as the agent merges them into its scrape.</summary>
    public async Task<string> GetPrometheusStatsAsync(CancellationToken cancellationToken)
    {
        using var response = await _http.GetAsync(new Uri("stats/prometheus", UriKind.Relative), cancellationToken).ConfigureAwait(false);
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
    }

    public void Dispose() => _http.Dispose();
}
