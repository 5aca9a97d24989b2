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

        // Warm-up on a small mesh until tiered compilation has promoted the hot code (it does so in the background,
        // after a quiet period), so the figures are a running controller's, not a cold process's.
        var warmUp = TranslationSyntheticCluster.Create(1_000);
        for (var i = 0; i < 4; i++)
        {
            new WaypointTranslator().Translate(warmUp);
            Thread.Sleep(TimeSpan.FromMilliseconds(300));
        }

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
        var gcBefore = GcFigures.Now();
        var (full, fullCpu, fullAllocated) = Measure(() => translator.Translate(snapshot));
        var fullGc = GcFigures.Now() - gcBefore;
        var retained = GC.GetTotalMemory(forceFullCollection: true) - baselineHeap;
        process.Refresh();
        var peak = process.PeakWorkingSet64;
        gcBefore = GcFigures.Now();
        var (incremental, incrementalCpu, incrementalAllocated) = Measure(() => translator.Translate(changed));
        var incrementalGc = GcFigures.Now() - gcBefore;

        var resources = full.Result.Waypoints.Values.Single();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"services={services} full: wall={full.Elapsed.TotalMilliseconds:F0}ms cpu={fullCpu.TotalMilliseconds:F0}ms {fullGc} allocated={fullAllocated / 1048576.0:F1}MiB " +
            $"retained={retained / 1048576.0:F1}MiB peakWorkingSet={peak / 1048576.0:F1}MiB (before {baselinePeak / 1048576.0:F1}MiB) | " +
            $"one route changed: wall={incremental.Elapsed.TotalMilliseconds:F0}ms cpu={incrementalCpu.TotalMilliseconds:F0}ms {incrementalGc} allocated={incrementalAllocated / 1048576.0:F1}MiB | " +
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

    /// <summary>Collections per generation and total GC pause, to tell translation work from collector work.</summary>
    private readonly record struct GcFigures(int Gen0, int Gen1, int Gen2, TimeSpan Pause)
    {
        public static GcFigures Now() => new(GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2), GC.GetTotalPauseDuration());

        public static GcFigures operator -(GcFigures a, GcFigures b) => new(a.Gen0 - b.Gen0, a.Gen1 - b.Gen1, a.Gen2 - b.Gen2, a.Pause - b.Pause);

        public override string ToString() =>
            string.Create(CultureInfo.InvariantCulture, $"gc(pause={Pause.TotalMilliseconds:F0}ms gen0/1/2={Gen0}/{Gen1}/{Gen2})");
    }
}
