using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Waypoint.Box.Apply;

namespace Waypoint.Box.Product;

/// <summary>
/// Installs the product as a user would on any cluster: server-side applies the shipped manifests
/// (<c>manifests/install</c>) with <see cref="BoxApplier"/>, then waits until the controller Deployment reports
/// <c>Available=True</c> for its current generation. A refused document fails the install naming it and the API
/// server's message; a controller that does not become Available fails it with <see cref="DeploymentDiagnosis"/>
/// (its pods, containers and their last log lines).
/// </summary>
public sealed class ProductInstaller
{
    private readonly HttpClient _api;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;

    /// <param name="api">An API server client with credentials allowed to install (the box's admin), its base address set.</param>
    public ProductInstaller(HttpClient api, ILogger<ProductInstaller> logger, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(api);
        ArgumentNullException.ThrowIfNull(logger);
        _api = api;
        _logger = logger;
        _time = time ?? TimeProvider.System;
    }

    public async Task<ApplyReport> InstallAsync(ProductInstallOptions options, CancellationToken cancellationToken)
    {
        var report = await ApplyAsync(options, cancellationToken).ConfigureAwait(false);
        await WaitForAvailableAsync(options, cancellationToken).ConfigureAwait(false);
        return report;
    }

    /// <summary>
    /// Server-side applies the manifests without waiting for the controller (what else is applied meanwhile need not
    /// wait either, as on any cluster); <see cref="WaitForAvailableAsync"/> then waits for it.
    /// </summary>
    public async Task<ApplyReport> ApplyAsync(ProductInstallOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!Directory.Exists(options.ManifestDirectory))
        {
            throw new ProductInstallException($"The manifest folder {options.ManifestDirectory} does not exist.");
        }

        var report = await new BoxApplier(_api, options.FieldManager).ApplyDirectoryAsync(options.ManifestDirectory, cancellationToken).ConfigureAwait(false);
        if (!report.Succeeded)
        {
            throw new ProductInstallException($"The API server refused manifests of {options.ManifestDirectory}:\n  " + string.Join("\n  ", report.Failures));
        }

        ProductLog.Applied(_logger, report.Documents.Count, options.ManifestDirectory);
        return report;
    }

    /// <summary>Waits until the Deployment's status describes its current generation and says <c>Available=True</c>.</summary>
    public async Task WaitForAvailableAsync(ProductInstallOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        var (ns, name) = (options.ControllerNamespace, options.ControllerDeployment);
        var started = Stopwatch.StartNew();
        var deadline = _time.GetUtcNow() + options.AvailableTimeout;
        var path = $"/apis/apps/v1/namespaces/{Uri.EscapeDataString(ns)}/deployments/{Uri.EscapeDataString(name)}";
        while (true)
        {
            var (available, reason, ready, replicas) = await ReadAsync(path, cancellationToken).ConfigureAwait(false);
            if (available)
            {
                ProductLog.Available(_logger, ns, name, ready, replicas, started.ElapsedMilliseconds);
                return;
            }

            ProductLog.Waiting(_logger, ns, name, reason);
            if (_time.GetUtcNow() >= deadline)
            {
                var diagnosis = await new DeploymentDiagnosis(_api).DescribeAsync(ns, name, cancellationToken).ConfigureAwait(false);
                throw new ProductInstallException(
                    $"The controller Deployment {ns}/{name} was not Available after {options.AvailableTimeout.TotalSeconds:0} s ({reason}).\n{diagnosis}");
            }

            await Task.Delay(options.PollInterval, _time, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<(bool Available, string Reason, int Ready, int Replicas)> ReadAsync(string path, CancellationToken cancellationToken)
    {
        using var response = await _api.GetAsync(path, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            return (false, $"reading it answered {(int)response.StatusCode}", 0, 0);
        }

        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false));
        var root = json.RootElement;
        var generation = root.GetProperty("metadata").TryGetProperty("generation", out var g) ? g.GetInt64() : 0;
        var replicas = root.GetProperty("spec").TryGetProperty("replicas", out var r) ? r.GetInt32() : 1;
        if (!root.TryGetProperty("status", out var status))
        {
            return (false, "no status yet", 0, replicas);
        }

        var ready = status.TryGetProperty("readyReplicas", out var rr) ? rr.GetInt32() : 0;
        var observed = status.TryGetProperty("observedGeneration", out var o) ? o.GetInt64() : 0;
        if (observed < generation)
        {
            return (false, $"status of generation {observed}, spec is {generation}", ready, replicas);
        }

        var condition = status.TryGetProperty("conditions", out var conditions)
            ? conditions.EnumerateArray().FirstOrDefault(c => c.GetProperty("type").GetString() == "Available")
            : default;
        if (condition.ValueKind != JsonValueKind.Object)
        {
            return (false, "no Available condition yet", ready, replicas);
        }

        var isTrue = condition.GetProperty("status").GetString() == "True";
        var message = condition.TryGetProperty("message", out var m) ? m.GetString() : null;
        return (isTrue, $"Available={condition.GetProperty("status").GetString()}: {message}; {ready}/{replicas} ready", ready, replicas);
    }
}
