using System.Diagnostics;
using System.Globalization;
using System.Runtime;
using Waypoint.Controller.Publishing;
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
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        var baselineHeap = GC.GetTotalMemory(forceFullCollection: true);
        using var process = Process.GetCurrentProcess();
        process.Refresh();
        var baselinePeak = process.PeakWorkingSet64;

        // First full translation: also gives retained memory and peak working set.
        var translator = new WaypointTranslator();
        TranslationResult? result = null;
        var first = Measure(() => result = translator.Translate(snapshot));
        var retained = GC.GetTotalMemory(forceFullCollection: true) - baselineHeap;
        process.Refresh();
        var peak = process.PeakWorkingSet64;
        var resources = result!.Waypoints.Values.Single();
        var (clusters, endpoints) = (resources.Clusters.Count, resources.Endpoints.Count);
        (result, resources) = (null, null);

        // Repeats (each full one on a fresh translator, each incremental one a real change) give medians that a
        // single run on a busy machine cannot.
        var fulls = new List<Sample> { first };
        for (var i = 1; i < Repeats; i++)
        {
            var fresh = translator = new WaypointTranslator(); // drops the previous translation and its caches
            GC.Collect();
            fulls.Add(Measure(() => fresh.Translate(snapshot)));
        }

        var incrementals = new List<Sample>();
        for (var i = 0; i < Repeats; i++)
        {
            var changed = TranslationSyntheticCluster.WithChangedRoute(snapshot, services / 2, $"/v{i + 2}");
            GC.Collect();
            incrementals.Add(Measure(() => translator.Translate(changed)));
        }

        // What the controller does next with a translation: one xDS snapshot per waypoint from the encoded resources.
        var translation = translator.Translate(snapshot);
        var snapshots = new List<Sample>();
        for (var i = 0; i < Repeats; i++)
        {
            snapshots.Add(Measure(() => XdsConfigPublisher.ToSnapshot(translation.Waypoints.Values.Single())));
        }

        // And after one route changed: the publisher rewraps only what the translator rebuilt.
        var publisher = new XdsConfigPublisher(new Waypoint.Xds.XdsSnapshotCache());
        publisher.PublishAsync(new(0, snapshot, translation, DateTimeOffset.UnixEpoch), CancellationToken.None).AsTask().GetAwaiter().GetResult();
        var republishes = new List<Sample>();
        for (var i = 0; i < Repeats; i++)
        {
            var changed = TranslationSyntheticCluster.WithChangedRoute(snapshot, services / 2, $"/r{i}");
            var update = new Controller.WaypointConfigUpdate(i + 1, changed, translator.Translate(changed), DateTimeOffset.UnixEpoch);
            republishes.Add(Measure(() => publisher.PublishAsync(update, CancellationToken.None).AsTask().GetAwaiter().GetResult()));
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"services={services} gc={(GCSettings.IsServerGC ? "server" : "workstation")} | " +
            $"first full (fresh process): wall={fulls[0].Wall.TotalMilliseconds:F0}ms | full, settled (last {Settled} runs): {Summary(fulls[^Settled..])} | all full: {Summary(fulls)} " +
            $"retained={retained / 1048576.0:F1}MiB peakWorkingSet={peak / 1048576.0:F1}MiB (before {baselinePeak / 1048576.0:F1}MiB) | " +
            $"one route changed: {Summary(incrementals)} | " +
            $"xDS snapshot from the translation: {Summary(snapshots)} | " +
            $"republish after one route changed: {Summary(republishes)} | " +
            $"clusters={clusters} endpoints={endpoints} load={File.ReadAllText("/proc/loadavg").Split(' ')[0]}"));
        return 0;
    }

    private const int Repeats = 9;

    /// <summary>
    /// The last runs, once the process has grown its heap: the early runs also pay for faulting in fresh memory, which
    /// a long-running controller has long since done.
    /// </summary>
    private const int Settled = 4;

    private static string Summary(IReadOnlyList<Sample> samples)
    {
        var median = samples.OrderBy(s => s.Wall).ElementAt(samples.Count / 2);
        return string.Create(CultureInfo.InvariantCulture,
            $"wall median={median.Wall.TotalMilliseconds:F0}ms min={samples.Min(s => s.Wall).TotalMilliseconds:F0}ms " +
            $"[{string.Join(' ', samples.Select(s => s.Wall.TotalMilliseconds.ToString("F0", CultureInfo.InvariantCulture)))}] " +
            $"(that run: cpu={median.Cpu.TotalMilliseconds:F0}ms {median.Gc} allocated={median.Allocated / 1048576.0:F1}MiB)");
    }

    private static Sample Measure(Action translate)
    {
        var gcBefore = GcFigures.Now();
        var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        var stopwatch = Stopwatch.StartNew();
        translate();
        var elapsed = stopwatch.Elapsed;
        var cpu = Process.GetCurrentProcess().TotalProcessorTime - cpuBefore;
        return new Sample(elapsed, cpu, GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore, GcFigures.Now() - gcBefore);
    }

    private readonly record struct Sample(TimeSpan Wall, TimeSpan Cpu, long Allocated, GcFigures Gc);

    /// <summary>Collections per generation and total GC pause, to tell translation work from collector work.</summary>
    private readonly record struct GcFigures(int Gen0, int Gen1, int Gen2, TimeSpan Pause)
    {
        public static GcFigures Now() => new(GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2), GC.GetTotalPauseDuration());

        public static GcFigures operator -(GcFigures a, GcFigures b) => new(a.Gen0 - b.Gen0, a.Gen1 - b.Gen1, a.Gen2 - b.Gen2, a.Pause - b.Pause);

        public override string ToString() =>
            string.Create(CultureInfo.InvariantCulture, $"gc(pause={Pause.TotalMilliseconds:F0}ms gen0/1/2={Gen0}/{Gen1}/{Gen2})");
    }
}
