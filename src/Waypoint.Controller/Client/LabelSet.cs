using System.Collections;
using System.Diagnostics.CodeAnalysis;

namespace Waypoint.Controller.Client;

/// <summary>
/// A cached object's labels (or annotations, or a selector), read-only and compact: one array of keys and values in
/// their original order instead of a <see cref="Dictionary{TKey, TValue}"/> (object, buckets and entries, about 200 bytes
/// for two labels against 80 here). At 10,000 Services the informers hold some 50,000 of them, and objects of one
/// workload (its Pods, their Service's EndpointSlices) often carry the very same set, which <see cref="StringPool"/>
/// then shares.
/// </summary>
/// <remarks>
/// Lookups scan the array: label sets are small (a handful of entries), where a scan of ordinal comparisons is as quick
/// as hashing. Nothing changes a cached object's labels; a mutation throws <see cref="NotSupportedException"/>.
/// </remarks>
internal sealed class LabelSet : IDictionary<string, string>, IReadOnlyDictionary<string, string>, IEquatable<LabelSet>
{
    /// <summary>Key 0, value 0, key 1, value 1, ...</summary>
    private readonly string[] _entries;
    private readonly int _hash;

    /// <param name="entries">Keys and values interleaved, keys distinct; the set keeps the array.</param>
    internal LabelSet(string[] entries)
    {
        _entries = entries;
        var hash = new HashCode();
        foreach (var entry in entries)
        {
            hash.Add(entry, StringComparer.Ordinal);
        }

        _hash = hash.ToHashCode();
    }

    public int Count => _entries.Length / 2;

    public bool IsReadOnly => true;

    public ICollection<string> Keys => [.. EveryOther(0)];

    public ICollection<string> Values => [.. EveryOther(1)];

    IEnumerable<string> IReadOnlyDictionary<string, string>.Keys => EveryOther(0);

    IEnumerable<string> IReadOnlyDictionary<string, string>.Values => EveryOther(1);

    public string this[string key]
    {
        get => TryGetValue(key, out var value) ? value : throw new KeyNotFoundException($"The label '{key}' is not set.");
        set => throw ReadOnly();
    }

    public bool TryGetValue(string key, [MaybeNullWhen(false)] out string value)
    {
        ArgumentNullException.ThrowIfNull(key);
        for (var i = 0; i < _entries.Length; i += 2)
        {
            if (string.Equals(_entries[i], key, StringComparison.Ordinal))
            {
                value = _entries[i + 1];
                return true;
            }
        }

        value = null;
        return false;
    }

    public bool ContainsKey(string key) => TryGetValue(key, out _);

    public bool Contains(KeyValuePair<string, string> item) => TryGetValue(item.Key, out var value) && string.Equals(value, item.Value, StringComparison.Ordinal);

    public void CopyTo(KeyValuePair<string, string>[] array, int arrayIndex)
    {
        ArgumentNullException.ThrowIfNull(array);
        foreach (var pair in this)
        {
            array[arrayIndex++] = pair;
        }
    }

    public IEnumerator<KeyValuePair<string, string>> GetEnumerator()
    {
        for (var i = 0; i < _entries.Length; i += 2)
        {
            yield return new KeyValuePair<string, string>(_entries[i], _entries[i + 1]);
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public void Add(string key, string value) => throw ReadOnly();

    public void Add(KeyValuePair<string, string> item) => throw ReadOnly();

    public bool Remove(string key) => throw ReadOnly();

    public bool Remove(KeyValuePair<string, string> item) => throw ReadOnly();

    public void Clear() => throw ReadOnly();

    public bool Equals(LabelSet? other) =>
        other is not null && (ReferenceEquals(this, other) || (_hash == other._hash && _entries.AsSpan().SequenceEqual(other._entries, StringComparer.Ordinal)));

    public override bool Equals(object? obj) => Equals(obj as LabelSet);

    public override int GetHashCode() => _hash;

    private IEnumerable<string> EveryOther(int start)
    {
        for (var i = start; i < _entries.Length; i += 2)
        {
            yield return _entries[i];
        }
    }

    private static NotSupportedException ReadOnly() =>
        new("The labels of a cached object are read-only: copy them into a new dictionary to change them.");
}
