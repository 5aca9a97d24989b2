using System.Diagnostics;
using System.Runtime.Versioning;
using Xunit;
using Waypoint.Box;
using Waypoint.Box.Assets;

namespace Waypoint.TestKit.Box;

/// <summary>What a command-line tool printed (stdout then stderr) and its exit code.</summary>
public sealed record ToolResult(string Command, int ExitCode, string StandardOutput, string StandardError)
{
    public bool Succeeded => ExitCode == 0;

    public string Output => StandardOutput + StandardError;

    public override string ToString() => $"`{Command}` exited with {ExitCode}:\n{Output}";
}

/// <summary>
/// The real command-line tools (helm, kubectl) run as a user runs them; inside a box's network namespace through
/// <c>nsenter --net</c>, where its API server listens.
/// </summary>
[SupportedOSPlatform("linux")]
public static class BoxTools
{
    /// <summary>
    /// Helm: <c>helm</c> of the Kubernetes assets, else <c>helm</c> on PATH. Absent, the test fails saying how to get
    /// it (tests needing a real component never skip).
    /// </summary>
    public static string Helm()
    {
        try
        {
            var helm = KubernetesAssets.Locate().Helm;
            if (File.Exists(helm))
            {
                return helm;
            }
        }
        catch (KubernetesAssetsNotFoundException)
        {
        }

        var onPath = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, "helm")).FirstOrDefault(File.Exists);
        if (onPath is null)
        {
            Assert.Fail("helm (v4) was not found: neither beside the Kubernetes binaries nor on PATH. " + KubernetesAssets.InstallHint
                + " ../shared/k8s/unpack's folder holds helm; or install Helm 4 on PATH (https://helm.sh/docs/intro/install/).");
        }

        return onPath;
    }

    public static string Kubectl() => KubernetesAssets.Locate().Kubectl;

    /// <summary>Runs helm with its cache, config and data folders in a temp folder of its own (never the user's).</summary>
    public static async Task<ToolResult> HelmAsync(BoxState? box, params string[] arguments)
    {
        var home = Directory.CreateTempSubdirectory("waypoint-helm-").FullName;
        try
        {
            var environment = new Dictionary<string, string>
            {
                ["HELM_CACHE_HOME"] = Path.Combine(home, "cache"),
                ["HELM_CONFIG_HOME"] = Path.Combine(home, "config"),
                ["HELM_DATA_HOME"] = Path.Combine(home, "data"),
            };
            return box is null
                ? await RunAsync(Helm(), arguments, environment: environment).ConfigureAwait(false)
                : await InBoxAsync(box, Helm(), ["--kubeconfig", box.AdminKubeconfigPath, .. arguments], environment: environment).ConfigureAwait(false);
        }
        finally
        {
            Directory.Delete(home, recursive: true);
        }
    }

    /// <summary>kubectl as the box's admin, inside its network namespace.</summary>
    public static Task<ToolResult> KubectlAsync(BoxState box, string? standardInput, params string[] arguments) =>
        InBoxAsync(box, Kubectl(), ["--kubeconfig", box.AdminKubeconfigPath, .. arguments], standardInput);

    /// <summary>Runs a tool in the box's network namespace (<c>nsenter --net=</c>, as the box's own hint prints).</summary>
    public static Task<ToolResult> InBoxAsync(BoxState box, string tool, IEnumerable<string> arguments, string? standardInput = null, IReadOnlyDictionary<string, string>? environment = null) =>
        RunAsync("nsenter", [$"--net={box.NetworkNamespacePath}", "--", tool, .. arguments], standardInput, environment);

    public static async Task<ToolResult> RunAsync(string file, IEnumerable<string> arguments, string? standardInput = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        var startInfo = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = standardInput is not null,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            startInfo.Environment[name] = value;
        }

        using var process = Process.Start(startInfo)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (standardInput is not null)
        {
            await process.StandardInput.WriteAsync(standardInput).ConfigureAwait(false);
            process.StandardInput.Close();
        }

        await process.WaitForExitAsync().ConfigureAwait(false);
        var command = string.Join(' ', startInfo.ArgumentList.Prepend(file));
        return new ToolResult(command, process.ExitCode, await stdout.ConfigureAwait(false), await stderr.ConfigureAwait(false));
    }
}
