using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Waypoint.Local.Envoy;

namespace Waypoint.TestKit.Envoy;

/// <summary>
/// A real Envoy started for a test, run by the rig's <see cref="EnvoyInstance"/> (its own temporary directory, admin on
/// an ephemeral loopback port, no hot restart). Adds what tests ask of it: <c>config_dump</c> sections, listener
/// ports, single stats, polling with Envoy's log in the failure message.
/// </summary>
public sealed class EnvoyProcess : IAsyncDisposable
{
    private readonly EnvoyInstance _envoy;

    private EnvoyProcess(EnvoyInstance envoy) => _envoy = envoy;

    public string WorkDirectory => _envoy.WorkDirectory;

    public Uri AdminUri => _envoy.AdminUri;

    public HttpClient Admin => _envoy.Admin;

    public string LogPath => _envoy.LogPath;

    public bool HasExited => _envoy.HasExited;

    /// <summary>
    /// Starts Envoy with <paramref name="bootstrap"/> (JSON or YAML; an <c>admin</c> section is added if absent) and waits
    /// until its admin API answers and, unless <see cref="EnvoyStartOptions.WaitForReady"/> is off, until <c>/ready</c>
    /// says LIVE (initial xDS fetches done). A failed start throws <see cref="EnvoyStartException"/> quoting Envoy.
    /// </summary>
    public static async Task<EnvoyProcess> StartAsync(
        string bootstrap,
        EnvoyStartOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        options ??= new EnvoyStartOptions();
        var envoy = await EnvoyInstance.StartAsync(
            new EnvoyInstanceOptions
            {
                Role = "envoy",
                Bootstrap = bootstrap,
                LogLevel = options.LogLevel,
                Concurrency = options.Concurrency,
                WaitForReady = options.WaitForReady,
                StartTimeout = options.StartTimeout,
                ExtraArguments = options.ExtraArguments,
            },
            cancellationToken: cancellationToken).ConfigureAwait(false);
        return new EnvoyProcess(envoy);
    }

    public Task<string> GetTextAsync(string path, CancellationToken cancellationToken = default) =>
        _envoy.GetAdminTextAsync(path, cancellationToken);

    /// <summary>The admin <c>config_dump</c> (with EDS when asked) as JSON.</summary>
    public Task<JsonNode> GetConfigDumpAsync(bool includeEds = true, CancellationToken cancellationToken = default) =>
        _envoy.GetConfigDumpAsync(includeEds, cancellationToken);

    /// <summary>The config_dump section whose <c>@type</c> ends with <paramref name="typeSuffix"/>, e.g. <c>ListenersConfigDump</c>.</summary>
    public async Task<JsonNode?> GetConfigDumpSectionAsync(string typeSuffix, CancellationToken cancellationToken = default)
    {
        var dump = await GetConfigDumpAsync(includeEds: true, cancellationToken).ConfigureAwait(false);
        return dump["configs"]!.AsArray().FirstOrDefault(c => c?["@type"]?.GetValue<string>().EndsWith(typeSuffix, StringComparison.Ordinal) == true);
    }

    public Task<JsonNode> GetClustersAsync(CancellationToken cancellationToken = default) =>
        _envoy.GetAdminJsonAsync("clusters?format=json", cancellationToken);

    public Task<JsonNode> GetListenersAsync(CancellationToken cancellationToken = default) =>
        _envoy.GetAdminJsonAsync("listeners?format=json", cancellationToken);

    /// <summary>The port a named listener is actually bound to (listeners may bind port 0).</summary>
    public async Task<int> GetListenerPortAsync(string listenerName, CancellationToken cancellationToken = default)
    {
        var listeners = await GetListenersAsync(cancellationToken).ConfigureAwait(false);
        foreach (var status in listeners["listener_statuses"]?.AsArray() ?? [])
        {
            if (status?["name"]?.GetValue<string>() == listenerName)
            {
                return status["local_address"]!["socket_address"]!["port_value"]!.GetValue<int>();
            }
        }

        throw new InvalidOperationException($"Envoy has no listener named '{listenerName}'.");
    }

    /// <summary>All counters and gauges by name (values past <see cref="long.MaxValue"/> clamped).</summary>
    public Task<IReadOnlyDictionary<string, long>> GetStatsAsync(CancellationToken cancellationToken = default) =>
        _envoy.GetStatsAsync(cancellationToken: cancellationToken);

    public async Task<long> GetStatAsync(string name, CancellationToken cancellationToken = default) =>
        (await GetStatsAsync(cancellationToken).ConfigureAwait(false)).GetValueOrDefault(name);

    /// <summary>
    /// One counter or gauge (0 when absent), fetched with an exact-name filter rather than all stats; values past
    /// <see cref="long.MaxValue"/> are clamped.
    /// </summary>
    public async Task<long> GetStatValueAsync(string name, CancellationToken cancellationToken = default) =>
        (await _envoy.GetStatsAsync("^" + Regex.Escape(name) + "$", cancellationToken).ConfigureAwait(false)).GetValueOrDefault(name);

    /// <summary>Polls <paramref name="condition"/> until it holds; fails with Envoy's log tail after <paramref name="timeout"/>.</summary>
    public async Task WaitUntilAsync(Func<CancellationToken, Task<bool>> condition, TimeSpan timeout, string description, CancellationToken cancellationToken = default)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        Exception? last = null;
        while (true)
        {
            if (_envoy.ExitCode is { } exitCode)
            {
                throw new InvalidOperationException($"Envoy exited ({exitCode}) while waiting for {description}.\n{LogTail()}");
            }

            try
            {
                if (await condition(cts.Token).ConfigureAwait(false))
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or JsonException or InvalidOperationException or NullReferenceException && !cts.IsCancellationRequested)
            {
                last = ex;
            }

            try
            {
                await Task.Delay(25, cts.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"Timed out after {timeout} waiting for {description}. Last error: {last?.Message}\n{LogTail()}");
            }
        }
    }

    /// <summary>The last lines (up to 200) Envoy wrote to stdout and stderr: its access logs on <c>/dev/stdout</c>.</summary>
    public IReadOnlyList<string> ConsoleLines() => _envoy.ConsoleLines();

    /// <summary>The end of Envoy's console output and log file, for failure messages.</summary>
    public string LogTail(int lines = 60) => "--- envoy output (tail) ---\n" + _envoy.OutputTail(lines);

    /// <summary>Stops Envoy gracefully (admin quitquitquit), killing it if it does not exit in time.</summary>
    public Task StopAsync() => _envoy.StopAsync();

    /// <summary>Kills Envoy at once, without draining (a crash, as far as its peers can tell).</summary>
    public void Kill() => _envoy.Kill();

    public ValueTask DisposeAsync() => _envoy.DisposeAsync();
}

/// <summary>How a test Envoy starts.</summary>
public sealed record EnvoyStartOptions
{
    public string LogLevel { get; init; } = "info";

    public int Concurrency { get; init; } = 1;

    /// <summary>Wait until <c>/ready</c> reports LIVE (initial xDS fetches done) before returning.</summary>
    public bool WaitForReady { get; init; } = true;

    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(30);

    public IReadOnlyList<string> ExtraArguments { get; init; } = [];
}
