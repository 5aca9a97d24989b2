using System.Diagnostics;
using System.Globalization;
using Waypoint.Translator;

namespace Waypoint.Benchmarks;

/// <summary>
/// Peak memory of translation, which BenchmarkDotNet does not report:
/// <c>dotnet run -c Release --project bench/Waypoint.Benchmarks -- translation-memory 10000</c>.
/// </summary>
internal static class TranslationMemory
{
    public static int Run(string[] args)
    {
        var services = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 10_000;
        var snapshot = TranslationSyntheticCluster.Create(services);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        var baselineHeap = GC.GetTotalMemory(forceFullCollection: true);
        var baselineAllocated = GC.GetTotalAllocatedBytes(precise: true);
        using var process = Process.GetCurrentProcess();
        process.Refresh();
        var baselinePeak = process.PeakWorkingSet64;

        var stopwatch = Stopwatch.StartNew();
        var translator = new WaypointTranslator();
        var result = translator.Translate(snapshot);
        var elapsed = stopwatch.Elapsed;
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - baselineAllocated;
        var retained = GC.GetTotalMemory(forceFullCollection: true) - baselineHeap;
        process.Refresh();

        var resources = result.Waypoints.Values.Single();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"services={services} time={elapsed.TotalMilliseconds:F0}ms allocated={allocated / 1048576.0:F1}MiB " +
            $"retained={retained / 1048576.0:F1}MiB peakWorkingSet={process.PeakWorkingSet64 / 1048576.0:F1}MiB (before: {baselinePeak / 1048576.0:F1}MiB) " +
            $"listeners={resources.Listeners.Count} clusters={resources.Clusters.Count} endpoints={resources.Endpoints.Count} version={resources.Version}"));
        return 0;
    }
}
