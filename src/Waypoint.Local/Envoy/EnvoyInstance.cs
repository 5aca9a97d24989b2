using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Waypoint.Local.Envoy;

/// <summary>How one supervised Envoy starts.</summary>
public sealed record EnvoyInstanceOptions
{
    /// <summary>A short name for logs and errors, e.g. <c>waypoint</c> or <c>ztunnel-inbound</c>.</summary>
    public required string Role { get; init; }

    /// <summary>
    /// The bootstrap as JSON or YAML (JSON when it starts with <c>{</c>). An <c>admin</c> section on 127.0.0.1:0 is
    /// added when absent.
    /// </summary>
    public required string Bootstrap { get; init; }

    /// <summary>The executable; <see cref="EnvoyLocator.Locate"/> when null.</summary>
    public string? Binary { get; init; }

    /// <summary>Where the bootstrap, log and admin address go; a fresh temporary directory when null.</summary>
    public string? WorkDirectory { get; init; }

    public string LogLevel { get; init; } = "warning";

    public int Concurrency { get; init; } = 1;

    /// <summary>Also wait for <c>/ready</c> to report LIVE (initial xDS and SDS fetches done).</summary>
    public bool WaitForReady { get; init; } = true;

    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(30);

    public IReadOnlyList<string> ExtraArguments { get; init; } = [];
}

/// <summary>
/// One Envoy process run by the rig: its own directory, admin API on an ephemeral loopback port, no hot restart.
/// <see cref="StartAsync"/> returns once the admin API answers (and, optionally, <c>/ready</c> says LIVE); a failed
/// start throws <see cref="EnvoyStartException"/> quoting Envoy's own reason (for example a listener that cannot bind).
/// </summary>
public sealed class EnvoyInstance : IAsyncDisposable
{
    private const int OutputLimit = 200;
    private readonly Process _process;
    private readonly Queue<string> _output = new();
    private readonly ILogger _logger;
    private readonly bool _ownsDirectory;
    private int _stopping;

    private EnvoyInstance(Process process, EnvoyInstanceOptions options, string workDirectory, bool ownsDirectory, ILogger logger)
    {
        _process = process;
        Options = options;
        WorkDirectory = workDirectory;
        _ownsDirectory = ownsDirectory;
        _logger = logger;
        _process.OutputDataReceived += (_, e) => Remember(e.Data);
        _process.ErrorDataReceived += (_, e) => Remember(e.Data);
    }

    public EnvoyInstanceOptions Options { get; }

    public string Role => Options.Role;

    public string WorkDirectory { get; }

    public string LogPath => Path.Combine(WorkDirectory, "envoy.log");

    /// <summary>The admin API (<c>http://127.0.0.1:port/</c>); set once started.</summary>
    public Uri AdminUri { get; private set; } = null!;

    public HttpClient Admin { get; private set; } = null!;

    public bool HasExited => _process.HasExited;

    /// <summary>The exit code once Envoy has exited; null while it runs.</summary>
    public int? ExitCode => _process.HasExited ? _process.ExitCode : null;

    public int ProcessId => _process.Id;

    public static async Task<EnvoyInstance> StartAsync(EnvoyInstanceOptions options, ILogger? logger = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        logger ??= NullLogger.Instance;
        var binary = options.Binary ?? EnvoyLocator.Locate();
        var (bootstrapFile, bootstrapText, adminOverlay) = PrepareBootstrap(options.Bootstrap);
        var ownsDirectory = options.WorkDirectory is null;
        var workDirectory = options.WorkDirectory ?? Directory.CreateTempSubdirectory($"waypoint-{options.Role}-").FullName;
        Directory.CreateDirectory(workDirectory);

        var bootstrapPath = Path.Combine(workDirectory, bootstrapFile);
        var adminAddressPath = Path.Combine(workDirectory, "admin-address.txt");
        File.Delete(adminAddressPath);
        await File.WriteAllTextAsync(bootstrapPath, bootstrapText, cancellationToken).ConfigureAwait(false);

        var startInfo = new ProcessStartInfo(binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workDirectory,
        };
        string[] arguments =
        [
            "-c", bootstrapPath, "--disable-hot-restart",
            "--concurrency", options.Concurrency.ToString(CultureInfo.InvariantCulture),
            "-l", options.LogLevel, "--log-path", Path.Combine(workDirectory, "envoy.log"),
            "--admin-address-path", adminAddressPath, "--drain-time-s", "1", "--parent-shutdown-time-s", "2",
        ];
        if (adminOverlay is not null)
        {
            arguments = [.. arguments, "--config-yaml", adminOverlay];
        }

        foreach (var argument in arguments.Concat(options.ExtraArguments))
        {
            startInfo.ArgumentList.Add(argument);
        }

        var process = new Process { StartInfo = startInfo, EnableRaisingEvents = true };
        var instance = new EnvoyInstance(process, options, workDirectory, ownsDirectory, logger);
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new EnvoyStartException($"Envoy '{options.Role}' could not be executed ({binary}): {ex.Message}. {EnvoyLocator.InstallHint}", ex);
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        EnvoyInstanceLog.EnvoyStarting(logger, options.Role, process.Id, workDirectory);

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.StartTimeout);
        try
        {
            var address = await instance.PollAsync(
                async ct => File.Exists(adminAddressPath) ? NullIfEmpty((await File.ReadAllTextAsync(adminAddressPath, ct).ConfigureAwait(false)).Trim()) : null,
                timeout.Token).ConfigureAwait(false);
            instance.AdminUri = new Uri($"http://{address}/");
            instance.Admin = new HttpClient { BaseAddress = instance.AdminUri, Timeout = TimeSpan.FromSeconds(10) };
            if (options.WaitForReady)
            {
                await instance.PollAsync(
                    async ct => await instance.IsLiveAsync(ct).ConfigureAwait(false) ? "LIVE" : null,
                    timeout.Token).ConfigureAwait(false);
            }

            EnvoyInstanceLog.EnvoyReady(logger, options.Role, instance.AdminUri);
            return instance;
        }
        catch (Exception ex) when (ex is OperationCanceledException or EnvoyStartException)
        {
            var reason = instance.DescribeFailure();
            instance.Kill();
            await instance.DisposeAsync().ConfigureAwait(false);
            if (cancellationToken.IsCancellationRequested)
            {
                throw;
            }

            throw new EnvoyStartException(
                process.HasExited
                    ? $"Envoy '{options.Role}' exited with code {process.ExitCode} during start: {reason}"
                    : $"Envoy '{options.Role}' was not ready within {options.StartTimeout}: {reason}",
                ex);
        }
    }

    /// <summary>True when the admin <c>/ready</c> endpoint reports LIVE.</summary>
    public async Task<bool> IsLiveAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            using var response = await Admin.GetAsync("ready", cancellationToken).ConfigureAwait(false);
            return (await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false)).Trim() == "LIVE";
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }

    public async Task<string> GetAdminTextAsync(string path, CancellationToken cancellationToken = default)
    {
        using var response = await Admin.GetAsync(path, cancellationToken).ConfigureAwait(false);
        return await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>An admin endpoint that answers JSON, e.g. <c>clusters?format=json</c>.</summary>
    public async Task<JsonNode> GetAdminJsonAsync(string path, CancellationToken cancellationToken = default) =>
        JsonNode.Parse(await GetAdminTextAsync(path, cancellationToken).ConfigureAwait(false))
            ?? throw new JsonException($"Envoy's admin {path} answered JSON null.");

    /// <summary>
    /// Counters and gauges by name (admin <c>/stats?format=json</c>), optionally only those matching the regular
    /// expression <paramref name="filter"/>.
    /// </summary>
    public async Task<IReadOnlyDictionary<string, long>> GetStatsAsync(string? filter = null, CancellationToken cancellationToken = default)
    {
        var path = filter is null ? "stats?format=json" : $"stats?format=json&filter={Uri.EscapeDataString(filter)}";
        using var json = JsonDocument.Parse(await GetAdminTextAsync(path, cancellationToken).ConfigureAwait(false));
        var result = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var stat in json.RootElement.GetProperty("stats").EnumerateArray())
        {
            if (!stat.TryGetProperty("name", out var name) || !stat.TryGetProperty("value", out var value) || value.ValueKind != JsonValueKind.Number)
            {
                continue;
            }

            // Envoy's counters and gauges are unsigned 64-bit (a gauge decremented below zero wraps), so those past
            // long's range are clamped; fractional values are not counters or gauges at all.
            if (value.TryGetInt64(out var number))
            {
                result[name.GetString()!] = number;
            }
            else if (value.TryGetUInt64(out _))
            {
                result[name.GetString()!] = long.MaxValue;
            }
        }

        return result;
    }

    /// <summary>The admin <c>config_dump</c>, with EDS unless <paramref name="includeEds"/> is false.</summary>
    public Task<JsonNode> GetConfigDumpAsync(bool includeEds = true, CancellationToken cancellationToken = default) =>
        GetAdminJsonAsync(includeEds ? "config_dump?include_eds" : "config_dump", cancellationToken);

    /// <summary>
    /// The last lines Envoy wrote to its console (stdout and stderr, not its log file): what <c>kubectl logs</c> shows,
    /// access logs on <c>/dev/stdout</c> included.
    /// </summary>
    public IReadOnlyList<string> ConsoleLines()
    {
        lock (_output)
        {
            return _output.ToArray();
        }
    }

    /// <summary>The last lines Envoy wrote to its console and log file.</summary>
    public string OutputTail(int lines = 40)
    {
        var all = new List<string>();
        lock (_output)
        {
            all.AddRange(_output);
        }

        try
        {
            if (File.Exists(LogPath))
            {
                using var stream = new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                using var reader = new StreamReader(stream);
                all.AddRange(reader.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries));
            }
        }
        catch (IOException)
        {
            // The console lines alone still say something.
        }

        return string.Join('\n', all.Skip(Math.Max(0, all.Count - lines)));
    }

    /// <summary>Stops Envoy gracefully (admin <c>quitquitquit</c>), killing it if it has not exited within a few seconds.</summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _stopping, 1) == 1 || _process.HasExited)
        {
            await WaitForExitQuietlyAsync().ConfigureAwait(false);
            return;
        }

        try
        {
            using var quit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            quit.CancelAfter(TimeSpan.FromSeconds(2));
            if (Admin is not null)
            {
                using var response = await Admin.PostAsync("quitquitquit", content: null, quit.Token).ConfigureAwait(false);
            }
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
            Kill();
            await WaitForExitQuietlyAsync().ConfigureAwait(false);
        }

        EnvoyInstanceLog.EnvoyStopped(_logger, Role, _process.ExitCode);
    }

    /// <summary>Kills Envoy at once, without draining.</summary>
    public void Kill()
    {
        Interlocked.Exchange(ref _stopping, 1);
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // It exited meanwhile.
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        Admin?.Dispose();
        _process.Dispose();
        if (_ownsDirectory)
        {
            try
            {
                Directory.Delete(WorkDirectory, recursive: true);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // A file still held open; a leftover temp directory is harmless.
            }
        }
    }

    private static string? NullIfEmpty(string text) => text.Length == 0 ? null : text;

    /// <summary>
    /// The bootstrap's file name, what is written there, and a <c>--config-yaml</c> overlay carrying the admin section
    /// when the bootstrap lacks one. JSON is amended in place; YAML is written verbatim because re-serialising it could
    /// change scalars Envoy reads (quoting, block strings), so Envoy merges the admin section in itself.
    /// </summary>
    private static (string FileName, string Text, string? AdminOverlay) PrepareBootstrap(string bootstrap)
    {
        const string AdminYaml = "admin: { address: { socket_address: { address: 127.0.0.1, port_value: 0 } } }";
        if (bootstrap.TrimStart().StartsWith('{'))
        {
            var json = JsonNode.Parse(bootstrap)?.AsObject()
                ?? throw new ArgumentException("The bootstrap is not a JSON object.", nameof(bootstrap));
            json["admin"] ??= new JsonObject
            {
                ["address"] = new JsonObject { ["socket_address"] = new JsonObject { ["address"] = "127.0.0.1", ["port_value"] = 0 } },
            };
            return ("bootstrap.json", json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }), null);
        }

        var yaml = new YamlStream();
        try
        {
            yaml.Load(new StringReader(bootstrap));
        }
        catch (YamlException ex)
        {
            throw new ArgumentException($"The bootstrap is neither a JSON object nor valid YAML: {ex.Message}", nameof(bootstrap), ex);
        }

        if (yaml.Documents.Count != 1 || yaml.Documents[0].RootNode is not YamlMappingNode root)
        {
            throw new ArgumentException("The YAML bootstrap is not a single mapping.", nameof(bootstrap));
        }

        var hasAdmin = root.Children.Keys.OfType<YamlScalarNode>().Any(k => k.Value == "admin");
        return ("bootstrap.yaml", bootstrap, hasAdmin ? null : AdminYaml);
    }

    private async Task<string> PollAsync(Func<CancellationToken, Task<string?>> probe, CancellationToken cancellationToken)
    {
        while (true)
        {
            if (_process.HasExited)
            {
                throw new EnvoyStartException($"Envoy '{Role}' exited with code {_process.ExitCode}.");
            }

            var value = await probe(cancellationToken).ConfigureAwait(false);
            if (value is not null)
            {
                return value;
            }

            await Task.Delay(20, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task WaitForExitQuietlyAsync()
    {
        using var exit = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await _process.WaitForExitAsync(exit.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or InvalidOperationException)
        {
            // Never started or still stuck after a kill; nothing more can be done.
        }
    }

    /// <summary>Picks Envoy's own error lines (critical/error) out of its output, else the tail.</summary>
    private string DescribeFailure()
    {
        var tail = OutputTail(80);
        var errors = tail.Split('\n')
            .Where(l => l.Contains("[critical]", StringComparison.Ordinal) || l.Contains("[error]", StringComparison.Ordinal)
                || l.Contains("cannot bind", StringComparison.OrdinalIgnoreCase) || l.Contains("exception", StringComparison.OrdinalIgnoreCase))
            .ToList();
        var detail = errors.Count > 0 ? string.Join('\n', errors.TakeLast(8)) : tail;

        // A directory we created is deleted with the failed instance, so its log path would point nowhere.
        return _ownsDirectory ? detail : $"{detail}\n(full log: {LogPath})";
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
}

/// <summary>An Envoy did not start; the message carries Envoy's own reason.</summary>
public sealed class EnvoyStartException : Exception
{
    public EnvoyStartException()
    {
    }

    public EnvoyStartException(string message)
        : base(message)
    {
    }

    public EnvoyStartException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
