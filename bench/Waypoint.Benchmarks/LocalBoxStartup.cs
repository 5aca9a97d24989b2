using System.Diagnostics;
using System.Globalization;

namespace Waypoint.Benchmarks;

/// <summary>
/// <c>dotnet run -c Release --project bench/Waypoint.Benchmarks -- local-box [DIR]</c> (root; the host built in Release):
/// runs <c>waypoint local DIR</c> (default examples/basic) as a user does, and prints the wall time from start to
/// "the local mesh is up" and to the first 200 through the waypoint (<c>waypoint local curl</c> from the ambient client
/// pod, answered with the HTTPRoute's <c>x-routed-by: waypoint</c>), then the RSS of every process it runs (box,
/// control plane, istiod, kubelet, controller pods, waypoint, ztunnel, echo pods), largest first. Stops it with SIGTERM.
/// </summary>
internal static class LocalBoxStartup
{
    public static async Task<int> RunAsync(string[] args)
    {
        var root = BenchPaths.Root();
        var host = Path.Combine(root, "src", "Waypoint.Host", "bin", "Release", "net10.0", "waypoint.dll");
        var config = args.Length > 0 ? Path.GetFullPath(args[0]) : Path.Combine(root, "examples", "basic");
        var url = args.Length > 1 ? args[1] : "http://echo.demo.svc.cluster.local/hello";
        var work = Directory.CreateTempSubdirectory("waypoint-bench-box-").FullName;
        var state = Path.Combine(work, "state.json");
        var clock = Stopwatch.StartNew();
        using var local = BenchProcess.Start("dotnet", [host, "local", config, "--state-file", state], redirect: true);
        var up = new TaskCompletionSource<TimeSpan>(TaskCreationOptions.RunContinuationsAsynchronously);
        var timeline = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var inTimeline = false;
        local.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not { } line)
            {
                return;
            }

            // The start's timeline, as `waypoint local` prints it once the mesh is up (its zero is this launch); its
            // log lines interleave with it, and a blank line ends it.
            if (line.StartsWith("Start timeline", StringComparison.Ordinal))
            {
                inTimeline = true;
            }
            else if (inTimeline && line.Length == 0)
            {
                inTimeline = false;
            }
            else if (inTimeline && line.StartsWith("  ", StringComparison.Ordinal))
            {
                timeline.Enqueue(line);
            }

            if (line.StartsWith("The local mesh is up (", StringComparison.Ordinal))
            {
                up.TrySetResult(clock.Elapsed);
            }
        };
        local.BeginOutputReadLine();
        local.BeginErrorReadLine();
        try
        {
            var meshUp = await up.Task.WaitAsync(TimeSpan.FromMinutes(6));
            TimeSpan? firstOk = null;
            while (clock.Elapsed < TimeSpan.FromMinutes(8))
            {
                using var curl = BenchProcess.Start("dotnet", [host, "local", "curl", "--state-file", state, "--max-time", "10", url], redirect: true);
                var output = await curl.StandardOutput.ReadToEndAsync();
                await curl.WaitForExitAsync();
                if (curl.ExitCode == 0 && output.StartsWith("HTTP/1.1 200", StringComparison.Ordinal) && output.Contains("x-routed-by: waypoint", StringComparison.OrdinalIgnoreCase))
                {
                    firstOk = clock.Elapsed;
                    break;
                }

                await Task.Delay(250);
            }

            var load = File.ReadAllText("/proc/loadavg").Split(' ')[0];
            var processes = Tree(local.Id).Select(p => (Pid: p, Rss: BenchProcess.RssMegabytes(p), Name: Name(p))).Where(p => p.Rss > 0).OrderByDescending(p => p.Rss).ToList();
            Console.WriteLine($"start timeline (from `waypoint local`; load average {load} at the end):");
            foreach (var line in timeline)
            {
                Console.WriteLine(line);
            }

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"start → mesh up: {meshUp.TotalSeconds:0.0} s"));
            Console.WriteLine(firstOk is { } ok
                ? string.Create(CultureInfo.InvariantCulture, $"start → first 200 through the waypoint: {ok.TotalSeconds:0.0} s")
                : "no 200 through the waypoint within 8 minutes");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"RSS of {processes.Count} processes: {processes.Sum(p => p.Rss):0} MB"));
            foreach (var (pid, rss, name) in processes)
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {rss,7:0.0} MB  {pid,7}  {name}"));
            }

            return firstOk is null ? 1 : 0;
        }
        finally
        {
            if (!local.HasExited)
            {
                _ = BenchProcess.Signal(local.Id, 15);
                await local.WaitForExitAsync();
            }

            Directory.Delete(work, recursive: true);
        }
    }


    /// <summary>The process and all its descendants (by the parent pid in /proc/PID/stat).</summary>
    private static List<int> Tree(int rootPid)
    {
        var parents = new Dictionary<int, int>();
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(directory), out var pid))
            {
                try
                {
                    var stat = File.ReadAllText(Path.Combine(directory, "stat"));
                    var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                    parents[pid] = int.Parse(fields[1], CultureInfo.InvariantCulture);
                }
                catch (IOException)
                {
                }
            }
        }

        var tree = new List<int> { rootPid };
        for (var i = 0; i < tree.Count; i++)
        {
            tree.AddRange(parents.Where(p => p.Value == tree[i]).Select(p => p.Key));
        }

        return tree;
    }


    private static string Name(int pid)
    {
        try
        {
            var args = File.ReadAllText($"/proc/{pid}/cmdline").Split('\0', StringSplitOptions.RemoveEmptyEntries);
            return string.Join(' ', args.Take(3).Select(a => a.Length > 60 ? "…" + a[^40..] : a));
        }
        catch (IOException)
        {
            return "?";
        }
    }
}
