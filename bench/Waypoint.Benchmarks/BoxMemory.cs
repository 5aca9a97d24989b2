using System.Globalization;
using System.Runtime.Versioning;
using Waypoint.Box;
using Waypoint.TestKit.Box;

namespace Waypoint.Benchmarks;

/// <summary>
/// <c>box-memory [SECONDS]</c>: a fresh <c>waypoint box</c> (root; istiod, node and ztunnel as by default), idle for
/// SECONDS (30) after ready, then the resident memory of each of its components and of every process in its network
/// namespace (the whole box: the box process, its Envoy, the kubelet and what the node runs).
/// </summary>
[SupportedOSPlatform("linux")]
internal static class BoxMemory
{
    public static async Task<int> RunAsync(string[] args)
    {
        var idle = TimeSpan.FromSeconds(args.Length > 0 ? double.Parse(args[0], CultureInfo.InvariantCulture) : 30);
        await using var box = BoxProcess.Start();
        await box.WaitReadyAsync();
        await Task.Delay(idle);
        var state = await BoxState.ReadAsync(box.StatePath, CancellationToken.None);
        long total = 0;
        var byName = new List<(string Name, long Kib)>();
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            try
            {
                if (new FileInfo(Path.Combine(directory, "ns", "net")).LinkTarget != state.NetworkNamespaceId)
                {
                    continue;
                }

                var kib = Rss(pid);
                total += kib;
                byName.Add((File.ReadAllText(Path.Combine(directory, "comm")).Trim(), kib));
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // The process ended meanwhile.
            }
        }

        Console.WriteLine($"box idle {idle.TotalSeconds:0} s after ready; RSS (MiB):");
        foreach (var component in state.Components)
        {
            Console.WriteLine($"  {component.Name,-24} {Rss(component.ProcessId) / 1024.0,8:F0}");
        }

        foreach (var group in byName.GroupBy(p => p.Name).OrderByDescending(g => g.Sum(p => p.Kib)))
        {
            Console.WriteLine($"  [{group.Key}] x{group.Count(),-3} {group.Sum(p => p.Kib) / 1024.0,8:F0}");
        }

        Console.WriteLine($"  whole box ({byName.Count} processes in its network namespace): {total / 1024.0:F0} MiB");
        return 0;
    }

    private static long Rss(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                return long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture);
            }
        }

        return 0;
    }
}
