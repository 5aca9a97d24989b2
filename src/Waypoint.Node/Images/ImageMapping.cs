namespace Waypoint.Node.Images;

/// <summary>
/// One image this node can "pull": which image references it answers, and the host executable that plays the image's
/// entrypoint. A container of the image runs <see cref="Entrypoint"/> (plus the pod's args) when the pod gives no
/// command; a pod command whose first word is one of <see cref="CommandNames"/> also means the entrypoint.
/// </summary>
public sealed record ImageMapping
{
    /// <summary>
    /// An image reference: exact (<c>waypoint/echo</c>, which also matches any tag or digest of it), or a prefix ending
    /// in <c>*</c> (<c>ghcr.io/waypoint-mesh/waypoint:*</c>). A leading <c>docker.io/</c> (and <c>library/</c>) is ignored.
    /// </summary>
    public required string Pattern { get; init; }

    /// <summary>The command line standing for the image's entrypoint, e.g. <c>[/usr/bin/dotnet, /opt/waypoint/waypoint.dll]</c>.</summary>
    public required IReadOnlyList<string> Entrypoint { get; init; }

    /// <summary>Names a pod's <c>command[0]</c> may use for the entrypoint (e.g. <c>envoy</c>, <c>/usr/local/bin/envoy</c>).</summary>
    public IReadOnlyList<string> CommandNames { get; init; } = [];

    public IEnumerable<string> Validate()
    {
        if (string.IsNullOrWhiteSpace(Pattern) || Pattern.IndexOf('*', StringComparison.Ordinal) is >= 0 and var star && star != Pattern.Length - 1)
        {
            yield return $"Image pattern '{Pattern}' must be a reference, or a prefix ending in a single '*'.";
        }

        if (Entrypoint.Count == 0 || string.IsNullOrWhiteSpace(Entrypoint[0]))
        {
            yield return $"Image '{Pattern}' has no entrypoint executable.";
        }
        else if (!Path.IsPathFullyQualified(Entrypoint[0]))
        {
            yield return $"The entrypoint of image '{Pattern}' must be an absolute path, not '{Entrypoint[0]}'.";
        }
    }
}
