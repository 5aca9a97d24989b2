namespace Waypoint.Translator;

/// <summary>Identifies a waypoint: the namespace and name of its Gateway.</summary>
public readonly record struct WaypointKey(string Namespace, string Name) : IComparable<WaypointKey>
{
    /// <summary><c>&lt;name&gt;.&lt;namespace&gt;</c>: the xDS node group and the Envoy node's <c>cluster</c>.</summary>
    public override string ToString() => $"{Name}.{Namespace}";

    public int CompareTo(WaypointKey other)
    {
        var byNamespace = string.CompareOrdinal(Namespace, other.Namespace);
        return byNamespace != 0 ? byNamespace : string.CompareOrdinal(Name, other.Name);
    }

    public static bool operator <(WaypointKey left, WaypointKey right) => left.CompareTo(right) < 0;

    public static bool operator <=(WaypointKey left, WaypointKey right) => left.CompareTo(right) <= 0;

    public static bool operator >(WaypointKey left, WaypointKey right) => left.CompareTo(right) > 0;

    public static bool operator >=(WaypointKey left, WaypointKey right) => left.CompareTo(right) >= 0;
}
