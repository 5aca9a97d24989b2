using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.Logging;

namespace Waypoint.Ztunnel.Mesh;

/// <summary>
/// Capture without iptables: inside each enrolled pod's network namespace (made by the node; never the host's), a
/// <c>local &lt;VIP&gt;/32 dev lo</c> route per mesh Service VIP, so the app's connection to VIP:port reaches the
/// outbound listener bound there. Routes for VIPs that left the mesh are removed; one <c>ip -batch</c> per pod.
/// </summary>
internal sealed class PodRoutes(ILogger logger)
{
    private readonly Dictionary<string, HashSet<IPAddress>> _routes = new(StringComparer.Ordinal);

    public async Task EnsureAsync(IReadOnlyList<EnrolledPod> pods, IReadOnlySet<IPAddress> vips, CancellationToken cancellationToken)
    {
        foreach (var gone in _routes.Keys.Except(pods.Select(p => p.NetworkNamespacePath)).ToList())
        {
            _routes.Remove(gone);
        }

        foreach (var pod in pods)
        {
            var have = _routes.TryGetValue(pod.NetworkNamespacePath, out var set) ? set : [];
            var commands = vips.Except(have).Select(v => $"route replace local {v}/32 dev lo")
                .Concat(have.Except(vips).Select(v => $"route del local {v}/32 dev lo"))
                .ToList();
            if (commands.Count == 0)
            {
                continue;
            }

            var error = await RunInNamespaceAsync(pod.NetworkNamespacePath, commands, cancellationToken).ConfigureAwait(false);
            if (error is null)
            {
                _routes[pod.NetworkNamespacePath] = [.. vips];
            }
            else
            {
                ZtunnelLog.RouteFailed(logger, string.Join(",", vips), pod.NetworkNamespacePath, error);
            }
        }
    }

    private static async Task<string?> RunInNamespaceAsync(string networkNamespace, IReadOnlyList<string> commands, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo("nsenter") { RedirectStandardInput = true, RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var argument in (string[])[$"--net={networkNamespace}", "ip", "-force", "-batch", "-"])
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("nsenter could not be started.");
        await process.StandardInput.WriteAsync(string.Join('\n', commands) + "\n").ConfigureAwait(false);
        process.StandardInput.Close();
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        _ = await process.StandardOutput.ReadToEndAsync(cancellationToken).ConfigureAwait(false);
        await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        return process.ExitCode == 0 ? null : (await stderr.ConfigureAwait(false)).Trim();
    }
}
