using System.Diagnostics;
using Waypoint.TestKit.Envoy;
using Xunit;

namespace Waypoint.TestKit.Observability;

/// <summary>The real Prometheus and Jaeger binaries of <c>../shared/observability</c> (or <see cref="AssetsVariable"/>).</summary>
public static class ObservabilityAssets
{
    /// <summary>Folder of the observability assets (its <c>unpack</c> script), when not <c>../shared/observability</c>.</summary>
    public const string AssetsVariable = "WAYPOINT_OBSERVABILITY_ASSETS";

    /// <summary>
    /// The binary <paramref name="name"/> (<c>prometheus</c>, <c>jaeger</c>), unpacked by the assets' <c>unpack</c>
    /// script. Absent, the test fails saying how to get it: tests of a real component never skip.
    /// </summary>
    public static async Task<string> LocateAsync(string name, CancellationToken cancellationToken = default)
    {
        var assets = Environment.GetEnvironmentVariable(AssetsVariable) is { Length: > 0 } configured
            ? configured
            : EnvoyBinary.FindRepositoryRoot() is { } root ? Path.GetFullPath(Path.Combine(root, "..", "shared", "observability")) : null;
        var unpack = assets is null ? null : Path.Combine(assets, "unpack");
        if (unpack is null || !File.Exists(unpack))
        {
            Assert.Fail($"{name} was not found: no {unpack ?? "../shared/observability/unpack"}. Check the repository out beside ../shared, or set {AssetsVariable} to a folder with the observability assets (unpack, bin/{name}.xz).");
        }

        var start = new ProcessStartInfo(unpack) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{unpack} did not start.");
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        var folder = (await stdout.ConfigureAwait(false)).Trim();
        var binary = Path.Combine(folder, name);
        if (process.ExitCode != 0 || !File.Exists(binary))
        {
            Assert.Fail($"{unpack} failed (exit {process.ExitCode}) or gave no {name}: {await stderr.ConfigureAwait(false)}");
        }

        return binary;
    }
}
