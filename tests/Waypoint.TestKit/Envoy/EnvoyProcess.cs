using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Waypoint.TestKit.Envoy;

/// <summary>
/// A real Envoy started for a test: its own temporary directory, admin on an ephemeral loopback port,
/// no hot restart. Reads <c>config_dump</c>, <c>clusters</c>, <c>listeners</c> and <c>stats</c> from the admin API.
/// </summary>
public sealed class EnvoyProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private bool _stopped;

    private EnvoyProcess(Process process, string workDirectory, Uri adminUri)
    {
        _process = process;
        WorkDirectory = workDirectory;
        AdminUri = adminUri;
        Admin = new HttpClient { BaseAddress = adminUri, Timeout = TimeSpan.FromSeconds(10) };
    }

    public string WorkDirectory { get; }

    public Uri AdminUri { get; }

    public HttpClient Admin { get; }

    public string LogPath => Path.Combine(WorkDirectory, "envoy.log");

    public bool HasExited => _process.HasExited;

    /// <summary>
    /// Starts Envoy with <paramref name="bootstrap"/> (JSON or YAML; an <c>admin</c> section is added if absent) and waits
    /// until its admin API answers. With <paramref name="waitForReady"/>, also waits for <c>/ready</c> to say LIVE
    /// (i.e. initial xDS fetches done).
    /// </summary>
    public static async Task<EnvoyProcess> StartAsync(
        string bootstrap,
        EnvoyStartOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        options ??= new EnvoyStartOptions();
        var binary = EnvoyBinary.Locate();
        var workDirectory = Directory.CreateTempSubdirectory("waypoint-envoy-").FullName;
        var isJson = bootstrap.TrimStart().StartsWith('{');
        var bootstrapPath = Path.Combine(workDirectory, isJson ? "bootstrap.json" : "bootstrap.yaml");
        if (isJson)
        {
            var node = JsonNode.Parse(bootstrap)!.AsObject();
            node["admin"] ??= JsonNode.Parse("""{"address":{"socket_address":{"address":"127.0.0.1","port_value":0}}}""");
            bootstrap = node.ToJsonString();
        }
        else if (!bootstrap.Contains("\nadmin:", StringComparison.Ordinal) && !bootstrap.StartsWith("admin:", StringComparison.Ordinal))
        {
            bootstrap += "\nadmin:\n  address:\n    socket_address: { address: 127.0.0.1, port_value: 0 }\n";
        }

        await File.WriteAllTextAsync(bootstrapPath, bootstrap, cancellationToken).ConfigureAwait(false);
        var adminAddressPath = Path.Combine(workDirectory, "admin-address.txt");

        var startInfo = new ProcessStartInfo(binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workDirectory,
        };
        foreach (var arg in new[]
        {
            "-c", bootstrapPath, "--disable-hot-restart", "--concurrency", options.Concurrency.ToString(CultureInfo.InvariantCulture),
            "-l", options.LogLevel, "--log-path", Path.Combine(workDirectory, "envoy.log"),
            "--admin-address-path", adminAddressPath, "--drain-time-s", "1", "--parent-shutdown-time-s", "2",
        })
        {
            startInfo.ArgumentList.Add(arg);
        }

        foreach (var arg in options.ExtraArguments)
        {
            startInfo.ArgumentList.Add(arg);
        }

        var process = new Process { StartInfo = startInfo, EnableRaisingEvents = true };
        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (output) { output.AppendLine(e.Data); } } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (output) { output.AppendLine(e.Data); } } };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.StartTimeout);
        try
        {
            string? address = null;
            while (address is null)
            {
                if (process.HasExited)
                {
                    throw new InvalidOperationException(
                        $"Envoy exited with code {process.ExitCode} during start.\n{Tail(output, workDirectory)}");
                }

                if (File.Exists(adminAddressPath))
                {
                    var text = (await File.ReadAllTextAsync(adminAddressPath, timeout.Token).ConfigureAwait(false)).Trim();
                    address = text.Length > 0 ? text : null;
                }

                if (address is null)
                {
                    await Task.Delay(20, timeout.Token).ConfigureAwait(false);
                }
            }

            var envoy = new EnvoyProcess(process, workDirectory, new Uri($"http://{address}/"));
            lock (output)
            {
                envoy._output.Append(output);
            }

            if (options.WaitForReady)
            {
                await envoy.WaitUntilAsync(
                    async ct => (await envoy.GetTextAsync("ready", ct).ConfigureAwait(false)).Trim() == "LIVE",
                    options.StartTimeout,
                    "Envoy /ready to report LIVE",
                    timeout.Token).ConfigureAwait(false);
            }

            return envoy;
        }
        catch (Exception ex) when (ex is OperationCanceledException or InvalidOperationException && !cancellationToken.IsCancellationRequested)
        {
            var tail = Tail(output, workDirectory);
            TryKill(process);
            throw new InvalidOperationException($"Envoy did not start within {options.StartTimeout}: {ex.Message}\n{tail}", ex);
        }
    }

    public async Task<string> GetTextAsync(string path, CancellationToken cancellationToken = default)
    {
        using var response = await Admin.GetAsync(path, cancellationToken).ConfigureAwait(false);
        return await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The admin <c>config_dump</c> (with EDS when asked) as JSON.</summary>
    public async Task<JsonNode> GetConfigDumpAsync(bool includeEds = true, CancellationToken cancellationToken = default) =>
        JsonNode.Parse(await GetTextAsync(includeEds ? "config_dump?include_eds" : "config_dump", cancellationToken).ConfigureAwait(false))!;

    /// <summary>The config_dump section whose <c>@type</c> ends with <paramref name="typeSuffix"/>, e.g. <c>ListenersConfigDump</c>.</summary>
    public async Task<JsonNode?> GetConfigDumpSectionAsync(string typeSuffix, CancellationToken cancellationToken = default)
    {
        var dump = await GetConfigDumpAsync(includeEds: true, cancellationToken).ConfigureAwait(false);
        return dump["configs"]!.AsArray().FirstOrDefault(c => c?["@type"]?.GetValue<string>().EndsWith(typeSuffix, StringComparison.Ordinal) == true);
    }

    public async Task<JsonNode> GetClustersAsync(CancellationToken cancellationToken = default) =>
        JsonNode.Parse(await GetTextAsync("clusters?format=json", cancellationToken).ConfigureAwait(false))!;

    public async Task<JsonNode> GetListenersAsync(CancellationToken cancellationToken = default) =>
        JsonNode.Parse(await GetTextAsync("listeners?format=json", cancellationToken).ConfigureAwait(false))!;

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

    /// <summary>All counters and gauges by name.</summary>
    public async Task<IReadOnlyDictionary<string, long>> GetStatsAsync(CancellationToken cancellationToken = default)
    {
        var result = new Dictionary<string, long>(StringComparer.Ordinal);
        using var response = await Admin.GetAsync("stats?format=json", cancellationToken).ConfigureAwait(false);
        var json = await response.Content.ReadFromJsonAsync<JsonElement>(cancellationToken).ConfigureAwait(false);
        foreach (var stat in json.GetProperty("stats").EnumerateArray())
        {
            // Some values are fractional (e.g. ratios); counters and gauges are integers.
            if (stat.TryGetProperty("name", out var name) && stat.TryGetProperty("value", out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var number))
            {
                result[name.GetString()!] = number;
            }
        }

        return result;
    }

    public async Task<long> GetStatAsync(string name, CancellationToken cancellationToken = default) =>
        (await GetStatsAsync(cancellationToken).ConfigureAwait(false)).TryGetValue(name, out var value) ? value : 0;

    /// <summary>
    /// One counter or gauge (0 when absent), fetched with an exact-name filter. Unlike <see cref="GetStatsAsync"/> it
    /// tolerates stats whose values do not fit a signed 64-bit integer (they are clamped).
    /// </summary>
    public async Task<long> GetStatValueAsync(string name, CancellationToken cancellationToken = default)
    {
        var filter = Uri.EscapeDataString("^" + System.Text.RegularExpressions.Regex.Escape(name) + "$");
        using var response = await Admin.GetAsync($"stats?format=json&filter={filter}", cancellationToken).ConfigureAwait(false);
        var json = await response.Content.ReadFromJsonAsync<JsonElement>(cancellationToken).ConfigureAwait(false);
        foreach (var stat in json.GetProperty("stats").EnumerateArray())
        {
            if (stat.TryGetProperty("name", out var statName) && statName.GetString() == name
                && stat.TryGetProperty("value", out var value) && value.ValueKind == JsonValueKind.Number)
            {
                return value.TryGetInt64(out var exact) ? exact : long.MaxValue;
            }
        }

        return 0;
    }

    /// <summary>Polls <paramref name="condition"/> until it holds; fails with Envoy's log tail after <paramref name="timeout"/>.</summary>
    public async Task WaitUntilAsync(Func<CancellationToken, Task<bool>> condition, TimeSpan timeout, string description, CancellationToken cancellationToken = default)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        Exception? last = null;
        while (true)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"Envoy exited ({_process.ExitCode}) while waiting for {description}.\n{LogTail()}");
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

    /// <summary>The end of Envoy's log file and console output, for failure messages.</summary>
    public string LogTail(int lines = 60)
    {
        lock (_output)
        {
            return Tail(_output, WorkDirectory, lines);
        }
    }

    /// <summary>Stops Envoy gracefully (admin quitquitquit), killing it if it does not exit in time.</summary>
    public async Task StopAsync()
    {
        if (_stopped)
        {
            return;
        }

        _stopped = true;
        if (!_process.HasExited)
        {
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                using var response = await Admin.PostAsync("quitquitquit", content: null, cts.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException)
            {
                // Already going away; the kill below covers it.
            }

            using var exit = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                await _process.WaitForExitAsync(exit.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                TryKill(_process);
                await _process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Kills Envoy at once, without draining (a crash, as far as its peers can tell).</summary>
    public void Kill()
    {
        _stopped = true;
        TryKill(_process);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _process.Dispose();
        Admin.Dispose();
        try
        {
            Directory.Delete(WorkDirectory, recursive: true);
        }
        catch (IOException)
        {
            // A socket or log still held open; the temp directory is harmless.
        }
    }

    private static void TryKill(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // Exited meanwhile.
        }
    }

    private static string Tail(StringBuilder output, string workDirectory, int lines = 60)
    {
        var logPath = Path.Combine(workDirectory, "envoy.log");
        string log;
        try
        {
            log = File.Exists(logPath) ? File.ReadAllText(logPath) : string.Empty;
        }
        catch (IOException)
        {
            log = string.Empty;
        }

        string console;
        lock (output)
        {
            console = output.ToString();
        }

        var all = (console + log).Split('\n');
        return "--- envoy output (tail) ---\n" + string.Join('\n', all.Skip(Math.Max(0, all.Length - lines)));
    }
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
