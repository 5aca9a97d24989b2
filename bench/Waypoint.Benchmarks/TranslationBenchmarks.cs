using BenchmarkDotNet.Attributes;
using Waypoint.Translator;
using Waypoint.Translator.Model;

namespace Waypoint.Benchmarks;

/// <summary>
/// Full translation of one waypoint with N bound services, one HTTPRoute each (fresh translator: no cache),
/// and the incremental cost of one changed HTTPRoute with a warm translator.
/// </summary>
/// <remarks>Run: <c>dotnet run -c Release --project bench/Waypoint.Benchmarks -- --filter '*Translation*' --job short --inProcess</c>.</remarks>
[MemoryDiagnoser]
public class TranslationBenchmarks
{
    private ClusterSnapshot _snapshot = ClusterSnapshot.Empty;
    private ClusterSnapshot _changedA = ClusterSnapshot.Empty;
    private ClusterSnapshot _changedB = ClusterSnapshot.Empty;
    private WaypointTranslator _warm = new();
    private bool _flip;

    [Params(1_000, 10_000)]
    public int Services { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _snapshot = TranslationSyntheticCluster.Create(Services);
        _changedA = TranslationSyntheticCluster.WithChangedRoute(_snapshot, Services / 2, "/v2");
        _changedB = TranslationSyntheticCluster.WithChangedRoute(_snapshot, Services / 2, "/v3");
        _warm = new WaypointTranslator();
        _warm.Translate(_snapshot);
    }

    /// <summary>Everything from scratch: index, binding, routes, protos, content hashes.</summary>
    [Benchmark]
    public int FullTranslation() => new WaypointTranslator().Translate(_snapshot).Waypoints.Count;

    /// <summary>One HTTPRoute changed since the previous translation (alternating between two versions).</summary>
    [Benchmark]
    public int OneRouteChanged()
    {
        _flip = !_flip;
        return _warm.Translate(_flip ? _changedA : _changedB).Waypoints.Count;
    }
}
