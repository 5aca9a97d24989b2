using System.Diagnostics;
using System.Globalization;
using System.Net;

namespace Waypoint.Benchmarks;

/// <summary>
/// Closed-loop HTTP load through a data plane, with the CPU the measured processes spent meanwhile (utime + stime from
/// <c>/proc/&lt;pid&gt;/stat</c>, all threads): every worker sends its next request when the previous one answered.
/// </summary>
internal static class DataPlaneLoad
{
    /// <summary>Runs <paramref name="clients"/> (one worker each) for <paramref name="duration"/> against <paramref name="path"/>.</summary>
    public static async Task<LoadRound> RunAsync(HttpClient[] clients, IReadOnlyList<int> pids, TimeSpan duration, string path = "/items/42")
    {
        var cpuBefore = pids.Select(CpuTime).ToArray();
        var round = await SendAsync(clients, () => new HttpRequestMessage(HttpMethod.Get, path), elapsed => elapsed < duration, 100_000).ConfigureAwait(false);
        return round with { Cpu = pids.Select((pid, i) => CpuTime(pid) - cpuBefore[i]).ToArray() };
    }

    /// <summary>
    /// Sends <paramref name="requests"/> requests over <paramref name="clients"/> (each takes the next while any remain),
    /// with the on-CPU time of <paramref name="pid"/> meanwhile (<see cref="CpuNanoseconds"/>, so a sample can be short).
    /// </summary>
    public static async Task<LoadRound> RunCountAsync(HttpClient[] clients, int pid, int requests, string path = "/items/42")
    {
        var remaining = requests;
        var cpuBefore = CpuNanoseconds(pid);
        var round = await SendAsync(clients, () => new HttpRequestMessage(HttpMethod.Get, path), _ => Interlocked.Decrement(ref remaining) >= 0, requests).ConfigureAwait(false);
        var cpu = CpuNanoseconds(pid) - cpuBefore;
        return round with { Cpu = [TimeSpan.FromMicroseconds(cpu / 1000.0)] };
    }

    /// <summary>
    /// The measured Envoys (all their threads) on the last core; this process and <paramref name="others"/> (the client
    /// Envoys) on the rest, so the load generator competes with the measured data plane for neither core time nor
    /// caches. Without taskset, nothing is pinned. Returns what was done, for the report.
    /// </summary>
    public static string Pin(IEnumerable<int> measured, IEnumerable<int> others)
    {
        var cores = Environment.ProcessorCount;
        if (cores < 2)
        {
            return "not pinned (1 core)";
        }

        var measuredCore = (cores - 1).ToString(CultureInfo.InvariantCulture);
        var rest = cores == 2 ? "0" : $"0-{(cores - 2).ToString(CultureInfo.InvariantCulture)}";
        try
        {
            foreach (var pid in measured)
            {
                TaskSet(pid, measuredCore);
            }

            foreach (var pid in others.Append(Environment.ProcessId))
            {
                TaskSet(pid, rest);
            }
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return $"not pinned ({ex.Message})";
        }

        return $"measured Envoys pinned to core {measuredCore}, load generator and client Envoys to {rest}";
    }

    /// <summary>Median and interquartile range of per-round values.</summary>
    public static Quartiles Spread(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        double At(double q)
        {
            var position = q * (sorted.Length - 1);
            var below = (int)Math.Floor(position);
            var above = Math.Min(sorted.Length - 1, below + 1);
            return sorted[below] + ((sorted[above] - sorted[below]) * (position - below));
        }

        return new Quartiles(At(0.25), At(0.5), At(0.75));
    }

    private static void TaskSet(int pid, string cores)
    {
        using var taskset = Process.Start(new ProcessStartInfo("taskset", ["--all-tasks", "--cpu-list", "--pid", cores, pid.ToString(CultureInfo.InvariantCulture)])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        taskset.WaitForExit();
        if (taskset.ExitCode != 0)
        {
            throw new InvalidOperationException($"taskset {cores} {pid}: {taskset.StandardError.ReadToEnd()}");
        }
    }

    /// <summary>
    /// One worker per client, each sending <paramref name="newRequest"/>'s next request when the previous one answered,
    /// while <paramref name="another"/> (given the time since the start) holds; a non-200 answer or a failed request
    /// counts as an error. No CPU is measured (<see cref="LoadRound.Cpu"/> is empty).
    /// </summary>
    public static async Task<LoadRound> SendAsync(HttpClient[] clients, Func<HttpRequestMessage> newRequest, Func<TimeSpan, bool> another, int capacity)
    {
        var latencies = new List<double>[clients.Length];
        var errors = 0;
        var stopwatch = Stopwatch.StartNew();
        var workers = clients.Select(async (client, worker) =>
        {
            var mine = latencies[worker] = new List<double>(capacity);
            while (another(stopwatch.Elapsed))
            {
                var started = Stopwatch.GetTimestamp();
                using var request = newRequest();
                try
                {
                    using var response = await client.SendAsync(request).ConfigureAwait(false);
                    await response.Content.ReadAsByteArrayAsync().ConfigureAwait(false);
                    if (response.StatusCode != HttpStatusCode.OK)
                    {
                        Interlocked.Increment(ref errors);
                        continue;
                    }
                }
                catch (HttpRequestException)
                {
                    Interlocked.Increment(ref errors);
                    continue;
                }

                mine.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }
        }).ToArray();
        await Task.WhenAll(workers).ConfigureAwait(false);
        var elapsed = stopwatch.Elapsed;
        var all = latencies.SelectMany(l => l).Order().ToArray();
        return new LoadRound(all, elapsed, errors, []);
    }

    /// <summary>The median (the upper one of an even count): other work on a shared machine shifts whole rounds.</summary>
    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted[sorted.Length / 2];
    }

    /// <summary>The Envoy whose command line names <paramref name="workDirectory"/> (the TestKit keeps the pid private).</summary>
    public static int FindEnvoyPid(string workDirectory)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                try
                {
                    var cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
                    if (cmdline.Contains(workDirectory, StringComparison.Ordinal) && cmdline.Contains("envoy", StringComparison.OrdinalIgnoreCase))
                    {
                        return pid;
                    }
                }
                catch (IOException)
                {
                }
                catch (UnauthorizedAccessException)
                {
                }
            }
        }

        throw new InvalidOperationException($"no Envoy process runs from {workDirectory}");
    }

    /// <summary>utime + stime of a process (all its threads), from /proc/&lt;pid&gt;/stat.</summary>
    public static TimeSpan CpuTime(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        return TimeSpan.FromSeconds(ticks / 100.0); // USER_HZ is 100 on Linux
    }

    /// <summary>
    /// Time on CPU of all of a process's threads, in nanoseconds: the first field of each <c>/proc/&lt;pid&gt;/task/&lt;tid&gt;/schedstat</c>
    /// (<see cref="CpuTime"/> is the same quantity in 10 ms ticks, too coarse for short samples).
    /// </summary>
    public static long CpuNanoseconds(int pid)
    {
        long total = 0;
        foreach (var task in Directory.EnumerateDirectories($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/task"))
        {
            try
            {
                var schedstat = File.ReadAllText(Path.Combine(task, "schedstat"));
                total += long.Parse(schedstat.AsSpan(0, schedstat.IndexOf(' ', StringComparison.Ordinal)), CultureInfo.InvariantCulture);
            }
            catch (IOException)
            {
                // a thread that ended between the listing and the read: its time is no longer counted anywhere, as in stat
            }
        }

        return total;
    }
}

/// <summary>Median and interquartile range of per-round values.</summary>
internal readonly record struct Quartiles(double Low, double Median, double High)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Median:F3} ({Low:F3}–{High:F3})");
}

/// <summary>One load round: the sorted latencies (ms) of the successful requests, and the CPU of each measured process.</summary>
internal sealed record LoadRound(double[] Sorted, TimeSpan Elapsed, int Errors, TimeSpan[] Cpu)
{
    public int Count => Sorted.Length;

    public double RequestsPerSecond => Count / Elapsed.TotalSeconds;

    /// <summary>CPU µs per successful request of the <paramref name="process"/>-th measured process.</summary>
    public double CpuPerRequestUs(int process) => Count == 0 ? double.NaN : Cpu[process].TotalMicroseconds / Count;

    public double Percentile(double p) => Sorted.Length == 0 ? double.NaN : Sorted[Math.Min(Sorted.Length - 1, (int)Math.Ceiling(p * Sorted.Length) - 1)];
}
