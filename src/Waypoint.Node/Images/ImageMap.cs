using System.Security.Cryptography;
using System.Text;

namespace Waypoint.Node.Images;

/// <summary>
/// The images this node knows, matched in order; anything else cannot be pulled (the pod shows
/// <c>ErrImagePull</c>/<c>ImagePullBackOff</c>). Each known reference is its own image, with a stable id.
/// </summary>
public sealed class ImageMap
{
    /// <summary>Image patterns of the <c>waypoint</c> executable (controller, agent): the published and the local names.</summary>
    public static readonly IReadOnlyList<string> WaypointPatterns = ["ghcr.io/waypoint-mesh/waypoint:*", "ghcr.io/waypoint-mesh/waypoint@*", "waypoint/waypoint", "waypoint/controller", "waypoint/agent"];

    /// <summary>Image patterns of upstream Envoy.</summary>
    public static readonly IReadOnlyList<string> EnvoyPatterns = ["envoyproxy/envoy:*", "envoyproxy/envoy@*", "envoyproxy/envoy"];

    /// <summary>The echo app image: <c>waypoint echo</c>.</summary>
    public const string EchoImage = "waypoint/echo";

    /// <summary>go-httpbin (the ambient e2e suite's backends): <c>waypoint echo --httpbin</c>, which answers the httpbin endpoints the suite uses.</summary>
    public static readonly IReadOnlyList<string> HttpbinPatterns = ["ghcr.io/mccutchen/go-httpbin", "mccutchen/go-httpbin"];

    /// <summary>
    /// The curl image, a "tools" image: its entrypoint is the host's own <c>curl</c>, and like every image here a pod
    /// command it does not name (<c>sleep infinity</c>, <c>sh -c ...</c>) runs the host's binary of that name.
    /// </summary>
    public static readonly IReadOnlyList<string> ToolsPatterns = ["curlimages/curl"];

    private readonly IReadOnlyList<ImageMapping> _mappings;

    public ImageMap(IEnumerable<ImageMapping> mappings)
    {
        ArgumentNullException.ThrowIfNull(mappings);
        _mappings = [.. mappings];
        var problems = _mappings.SelectMany(m => m.Validate()).ToList();
        if (problems.Count > 0)
        {
            throw new ArgumentException(string.Join(" ", problems), nameof(mappings));
        }
    }

    public IReadOnlyList<ImageMapping> Mappings => _mappings;

    /// <summary>
    /// The usual map: the waypoint images and <c>waypoint/echo</c> run <paramref name="waypointCommand"/> (the
    /// <c>waypoint</c> executable: its apphost, or <c>[dotnet, waypoint.dll]</c>; echo adds <c>echo</c>), Envoy's image
    /// runs <paramref name="envoyExecutable"/> (when null, Envoy's image cannot be pulled).
    /// </summary>
    public static ImageMap Default(IReadOnlyList<string> waypointCommand, string? envoyExecutable) =>
        Default(waypointCommand, envoyExecutable, HostExecutable("curl"));

    /// <summary>
    /// <see cref="Default(IReadOnlyList{string}, string?)"/> with the tools image's <c>curl</c> given (when null, the
    /// curl image cannot be pulled).
    /// </summary>
    public static ImageMap Default(IReadOnlyList<string> waypointCommand, string? envoyExecutable, string? curlExecutable)
    {
        ArgumentNullException.ThrowIfNull(waypointCommand);
        var mappings = new List<ImageMapping>();
        mappings.AddRange(WaypointPatterns.Select(p => new ImageMapping { Pattern = p, Entrypoint = waypointCommand, CommandNames = ["waypoint", "/waypoint", "/usr/local/bin/waypoint", "/app/waypoint"] }));
        if (envoyExecutable is not null)
        {
            mappings.AddRange(EnvoyPatterns.Select(p => new ImageMapping { Pattern = p, Entrypoint = [envoyExecutable], CommandNames = ["envoy", "/usr/local/bin/envoy"] }));
        }

        mappings.Add(new ImageMapping { Pattern = EchoImage, Entrypoint = [.. waypointCommand, "echo"] });
        mappings.AddRange(HttpbinPatterns.Select(p => new ImageMapping { Pattern = p, Entrypoint = [.. waypointCommand, "echo", "--httpbin"], CommandNames = ["go-httpbin", "/bin/go-httpbin"] }));
        if (curlExecutable is not null)
        {
            mappings.AddRange(ToolsPatterns.Select(p => new ImageMapping { Pattern = p, Entrypoint = [curlExecutable], CommandNames = ["curl", "/usr/bin/curl"] }));
        }

        return new ImageMap(mappings);
    }

    /// <summary>A host executable by name, from PATH or the usual bin folders; null when absent.</summary>
    public static string? HostExecutable(string name)
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? string.Empty;
        return path.Split(':', StringSplitOptions.RemoveEmptyEntries).Concat(["/usr/local/bin", "/usr/bin", "/bin"])
            .Select(directory => Path.Combine(directory, name))
            .FirstOrDefault(candidate => Path.IsPathFullyQualified(candidate) && File.Exists(candidate));
    }

    /// <summary>
    /// The command line of the running <c>waypoint</c> executable, for the waypoint and echo images: its apphost, or
    /// <c>[dotnet, waypoint.dll]</c> when it runs through <c>dotnet</c>. Only meaningful inside the waypoint executable.
    /// </summary>
    public static IReadOnlyList<string> CurrentWaypointCommand()
    {
        var process = Environment.ProcessPath ?? throw new InvalidOperationException("The process path is unknown.");
        return Path.GetFileNameWithoutExtension(process) == "dotnet"
            ? [process, Path.Combine(AppContext.BaseDirectory, "waypoint.dll")]
            : [process];
    }

    /// <summary>The mapping of <paramref name="image"/>, or null when this node cannot run it.</summary>
    public ImageMapping? Resolve(string image)
    {
        var reference = Normalize(image);
        if (reference.Length == 0)
        {
            return null;
        }

        foreach (var mapping in _mappings)
        {
            var pattern = Normalize(mapping.Pattern);
            if (pattern.EndsWith('*')
                ? reference.StartsWith(pattern[..^1], StringComparison.Ordinal)
                : reference == pattern || reference.StartsWith(pattern + ":", StringComparison.Ordinal) || reference.StartsWith(pattern + "@", StringComparison.Ordinal))
            {
                return mapping;
            }
        }

        return null;
    }

    /// <summary>The image id of a reference: a digest of its normalized name, so every tag is its own image.</summary>
    public static string ImageId(string image) =>
        "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Normalize(image))));

    /// <summary>Drops the default registry (<c>docker.io/</c>, <c>docker.io/library/</c>) so both spellings match.</summary>
    public static string Normalize(string image)
    {
        var reference = (image ?? string.Empty).Trim();
        foreach (var prefix in new[] { "docker.io/library/", "docker.io/", "index.docker.io/" })
        {
            if (reference.StartsWith(prefix, StringComparison.Ordinal))
            {
                reference = reference[prefix.Length..];
                break;
            }
        }

        return reference;
    }
}
