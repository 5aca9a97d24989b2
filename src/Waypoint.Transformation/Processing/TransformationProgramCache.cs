using System.Collections.Concurrent;
using System.Text.Json;
using Waypoint.Transformation.Compilation;

namespace Waypoint.Transformation.Processing;

/// <summary>
/// The registry of compiled transformations, keyed by the encoded spec Envoy sends with each stream
/// (<see cref="TransformationExtProc.TransformationMetadataKey"/>). The spec travels with the route config, so the
/// service always runs exactly the transformation the route was built with, across config updates, without a
/// separate sync channel. Entries are immutable; the cache is bounded.
/// </summary>
internal sealed class TransformationProgramCache
{
    internal const int Capacity = 1024;

    private readonly ConcurrentDictionary<string, CacheEntry> _entries = new(StringComparer.Ordinal);

    public CacheEntry Get(string encoded)
    {
        if (_entries.TryGetValue(encoded, out var entry))
        {
            return entry;
        }

        entry = Build(encoded);
        if (_entries.Count >= Capacity)
        {
            // Config churn only: a waypoint has as many entries as distinct transformations on its routes.
            _entries.Clear();
        }

        return _entries.GetOrAdd(encoded, entry);
    }

    public int Count => _entries.Count;

    private static CacheEntry Build(string encoded)
    {
        try
        {
            var spec = TransformationExtProc.Decode(encoded);
            if (spec is null)
            {
                return new CacheEntry(null, "the transformation metadata is empty");
            }

            var errors = new List<string>();
            var compiled = TrafficPolicyCompiler.CompileTransformation(spec, errors);
            return compiled is null ? new CacheEntry(null, string.Join("; ", errors)) : new CacheEntry(compiled, null);
        }
        catch (Exception ex) when (ex is FormatException or JsonException)
        {
            return new CacheEntry(null, $"the transformation metadata cannot be decoded: {ex.Message}");
        }
    }
}

internal sealed record CacheEntry(CompiledTransformation? Transformation, string? Error);
