using Waypoint.Node.Cri.V1;

namespace Waypoint.Node.Images;

/// <summary>A known image: its reference as asked for, its id and the host executable standing for it.</summary>
internal sealed record KnownImage(string Reference, string Id, ImageMapping Mapping, ulong Size);

/// <summary>Thrown when an image is not one this node can run.</summary>
public sealed class UnknownImageException(string message) : Exception(message);

/// <summary>
/// The node's images: every reference the image map knows is "present" (pulling it only records it); references are
/// remembered by id too, since the kubelet creates containers with the image id <c>PullImage</c> returned.
/// </summary>
internal sealed class ImageStore(ImageMap map)
{
    private readonly Dictionary<string, KnownImage> _byId = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    /// <summary>The image named (by reference or by an id seen before), or null.</summary>
    public KnownImage? Find(string image)
    {
        if (string.IsNullOrEmpty(image))
        {
            return null;
        }

        lock (_lock)
        {
            if (_byId.TryGetValue(image, out var byId))
            {
                return byId;
            }
        }

        var mapping = map.Resolve(image);
        if (mapping is null)
        {
            return null;
        }

        var known = new KnownImage(ImageMap.Normalize(image), ImageMap.ImageId(image), mapping, SizeOf(mapping));
        lock (_lock)
        {
            _byId.TryAdd(known.Id, known);
        }

        return known;
    }

    /// <summary>"Pulls" an image: known images are always present; anything else fails with a message the pod shows.</summary>
    public KnownImage Pull(string image) => Find(image) ?? throw new UnknownImageException(
        $"waypoint-node cannot run image \"{image}\": this node runs containers as host processes and knows only " +
        $"{string.Join(", ", map.Mappings.Select(m => m.Pattern))}.");

    public IReadOnlyList<KnownImage> List()
    {
        lock (_lock)
        {
            return [.. _byId.Values.OrderBy(i => i.Reference, StringComparer.Ordinal)];
        }
    }

    public void Remove(string image)
    {
        var known = Find(image);
        if (known is null)
        {
            return;
        }

        lock (_lock)
        {
            _byId.Remove(known.Id);
        }
    }

    public static Image ToCri(KnownImage image) => new()
    {
        Id = image.Id,
        RepoTags = { image.Reference },
        Size = image.Size,
        Spec = new ImageSpec { Image = image.Reference },
    };

    private static ulong SizeOf(ImageMapping mapping)
    {
        // The kubelet refuses an image without a size; the entrypoint's file size is as good as any.
        var executable = mapping.Entrypoint.LastOrDefault(File.Exists) ?? mapping.Entrypoint[0];
        return File.Exists(executable) ? Math.Max(1UL, (ulong)new FileInfo(executable).Length) : 1UL;
    }
}
