using System.Collections.Concurrent;

namespace Waypoint.Controller.Client;

/// <summary>
/// Shares one instance of each equal string among the informers' cached objects: every object deserialized from the
/// API server brings its own copies of namespaces, label keys and label values (a label key such as
/// <c>kubernetes.io/service-name</c> is on every EndpointSlice), which at 10,000 Services are tens of thousands of
/// duplicates.
/// </summary>
/// <remarks>
/// Bounded: strings longer than <see cref="MaxLength"/> are not pooled, and once the pool holds
/// <see cref="Capacity"/> strings it only hands out the ones it has, so churning values (pod names, hashes) cannot
/// grow it without limit. Thread-safe; informers deserialize concurrently.
/// </remarks>
internal sealed class StringPool(int capacity = StringPool.DefaultCapacity)
{
    public const int DefaultCapacity = 200_000;

    public const int MaxLength = 128;

    private readonly ConcurrentDictionary<string, string> _strings = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<LabelSet, LabelSet> _labelSets = new();
    private int _count;
    private int _labelSetCount;

    private static readonly LabelSet EmptyLabels = new([]);

    /// <summary>The pool the informers share.</summary>
    public static StringPool Shared { get; } = new();

    public int Capacity { get; } = capacity;

    public int Count => Volatile.Read(ref _count);

    /// <summary>How many distinct label sets the pool shares.</summary>
    public int LabelSetCount => Volatile.Read(ref _labelSetCount);

    /// <summary>The pooled instance equal to <paramref name="value"/> (itself when it is not pooled).</summary>
    [return: System.Diagnostics.CodeAnalysis.NotNullIfNotNull(nameof(value))]
    public string? Intern(string? value)
    {
        if (value is null || value.Length > MaxLength)
        {
            return value;
        }

        if (value.Length == 0)
        {
            return string.Empty;
        }

        return Share(_strings, ref _count, value);
    }

    /// <summary>
    /// <paramref name="labels"/> as a read-only <see cref="LabelSet"/> of pooled keys and values, the same instance for
    /// equal sets (null stays null; an empty set is one shared instance).
    /// </summary>
    public IDictionary<string, string>? Intern(IDictionary<string, string>? labels)
    {
        if (labels is null)
        {
            return null;
        }

        if (labels is LabelSet already)
        {
            return already;
        }

        if (labels.Count == 0)
        {
            return EmptyLabels;
        }

        var entries = new string[labels.Count * 2];
        var i = 0;
        foreach (var (key, value) in labels)
        {
            entries[i++] = Intern(key);
            entries[i++] = Intern(value);
        }

        return Share(_labelSets, ref _labelSetCount, new LabelSet(entries));
    }

    /// <summary>
    /// The pooled instance equal to <paramref name="value"/>, adding it while the pool holds fewer than
    /// <see cref="Capacity"/>; past that, a new value is kept by its object alone.
    /// </summary>
    private T Share<T>(ConcurrentDictionary<T, T> pool, ref int count, T value)
        where T : notnull
    {
        if (pool.TryGetValue(value, out var pooled))
        {
            return pooled;
        }

        if (Volatile.Read(ref count) >= Capacity)
        {
            return value;
        }

        if (pool.TryAdd(value, value))
        {
            Interlocked.Increment(ref count);
            return value;
        }

        return pool.TryGetValue(value, out pooled) ? pooled : value;
    }
}
