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
    private int _count;

    /// <summary>The pool the informers share.</summary>
    public static StringPool Shared { get; } = new();

    public int Capacity { get; } = capacity;

    public int Count => Volatile.Read(ref _count);

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

        if (_strings.TryGetValue(value, out var pooled))
        {
            return pooled;
        }

        if (Volatile.Read(ref _count) >= Capacity)
        {
            return value;
        }

        if (_strings.TryAdd(value, value))
        {
            Interlocked.Increment(ref _count);
            return value;
        }

        return _strings.TryGetValue(value, out pooled) ? pooled : value;
    }

    /// <summary>A copy of <paramref name="labels"/> whose keys and values are pooled (null stays null).</summary>
    public IDictionary<string, string>? Intern(IDictionary<string, string>? labels)
    {
        if (labels is null)
        {
            return null;
        }

        var pooled = new Dictionary<string, string>(labels.Count, StringComparer.Ordinal);
        foreach (var (key, value) in labels)
        {
            pooled[Intern(key)] = Intern(value);
        }

        return pooled;
    }
}
