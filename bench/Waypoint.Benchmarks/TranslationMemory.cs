using System.Diagnostics;
using System.Globalization;
using Waypoint.Translator;

namespace Waypoint.Benchmarks;

/// <summary>
/// Peak memory and CPU time of translation, which BenchmarkDotNet does not report (CPU time is the figure to trust
/// on a loaded machine): <c>dotnet run -c Release --project bench/Waypoint.Benchmarks -- translation-memory 10000</c>.
/// </summary>
internal static class TranslationMemory
{
    public static int Run(string[] args)
    {
        var services = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 10_000;

        // JIT warm-up on a small mesh so the figures are steady-state.
        new WaypointTranslator().Translate(TranslationSyntheticCluster.Create(200));

        var snapshot = TranslationSyntheticCluster.Create(services);
        var changed = TranslationSyntheticCluster.WithChangedRoute(snapshot, services / 2, "/v2");
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        var baselineHeap = GC.GetTotalMemory(forceFullCollection: true);
        using var process = Process.GetCurrentProcess();
        process.Refresh();
        var baselinePeak = process.PeakWorkingSet64;

        var translator = new WaypointTranslator();
        var (full, fullCpu, fullAllocated) = Measure(() => translator.Translate(snapshot));
        var retained = GC.GetTotalMemory(forceFullCollection: true) - baselineHeap;
        process.Refresh();
        var peak = process.PeakWorkingSet64;
        var (incremental, incrementalCpu, incrementalAllocated) = Measure(() => translator.Translate(changed));

        var resources = full.Result.Waypoints.Values.Single();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"services={services} full: wall={full.Elapsed.TotalMilliseconds:F0}ms cpu={fullCpu.TotalMilliseconds:F0}ms allocated={fullAllocated / 1048576.0:F1}MiB " +
            $"retained={retained / 1048576.0:F1}MiB peakWorkingSet={peak / 1048576.0:F1}MiB (before {baselinePeak / 1048576.0:F1}MiB) | " +
            $"one route changed: wall={incremental.Elapsed.TotalMilliseconds:F0}ms cpu={incrementalCpu.TotalMilliseconds:F0}ms allocated={incrementalAllocated / 1048576.0:F1}MiB | " +
            $"clusters={resources.Clusters.Count} endpoints={resources.Endpoints.Count} load={File.ReadAllText("/proc/loadavg").Split(' ')[0]}"));
        return 0;
    }

    private static ((TranslationResult Result, TimeSpan Elapsed), TimeSpan Cpu, long Allocated) Measure(Func<TranslationResult> translate)
    {
        var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        var stopwatch = Stopwatch.StartNew();
        var result = translate();
        var elapsed = stopwatch.Elapsed;
        var cpu = Process.GetCurrentProcess().TotalProcessorTime - cpuBefore;
        return ((result, elapsed), cpu, GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore);
    }
}
