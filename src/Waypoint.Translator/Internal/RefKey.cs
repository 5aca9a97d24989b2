using System.Runtime.CompilerServices;

namespace Waypoint.Translator.Internal;

/// <summary>
/// The inputs an output was built from: objects compare by reference (snapshot objects are immutable and replaced
/// on change), strings and values by value. Equal keys mean the cached output is still right.
/// </summary>
internal sealed class RefKey(List<object?> parts) : IEquatable<RefKey>
{
    public bool Equals(RefKey? other)
    {
        if (other is null || other.Count != Count)
        {
            return false;
        }

        for (var i = 0; i < parts.Count; i++)
        {
            var a = parts[i];
            var b = other.Part(i);
            if (ReferenceEquals(a, b))
            {
                continue;
            }

            if (a is null || b is null)
            {
                return false;
            }

            if (a is string || a.GetType().IsValueType)
            {
                if (!a.Equals(b))
                {
                    return false;
                }
            }
            else
            {
                return false;
            }
        }

        return true;
    }

    public int Count => parts.Count;

    private object? Part(int index) => parts[index];

    public override bool Equals(object? obj) => Equals(obj as RefKey);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        foreach (var part in parts)
        {
            hash.Add(part is null ? 0 : part is string || part.GetType().IsValueType ? part.GetHashCode() : RuntimeHelpers.GetHashCode(part));
        }

        return hash.ToHashCode();
    }
}
