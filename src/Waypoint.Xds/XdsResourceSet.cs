using System.Buffers;
using System.Text;

namespace Waypoint.Xds;

/// <summary>The resources of one type in a snapshot: ordered, unique by name, with a content-hash version.</summary>
public sealed class XdsResourceSet
{
    private readonly Dictionary<string, XdsResource> _byName;

    internal XdsResourceSet(string typeUrl, IReadOnlyList<XdsResource> resources)
    {
        TypeUrl = typeUrl;
        Resources = resources;
        _byName = new Dictionary<string, XdsResource>(resources.Count, StringComparer.Ordinal);
        foreach (var resource in resources)
        {
            if (resource.TypeUrl != typeUrl)
            {
                throw new ArgumentException($"Resource '{resource.Name}' has type '{resource.TypeUrl}', expected '{typeUrl}'.", nameof(resources));
            }

            if (!_byName.TryAdd(resource.Name, resource))
            {
                throw new ArgumentException($"Duplicate {XdsTypeUrls.ShortName(typeUrl)} resource name '{resource.Name}'.", nameof(resources));
            }
        }

        Version = ComputeVersion(resources);
    }

    public string TypeUrl { get; }

    /// <summary>Resources in the order they were given (the order they are sent in).</summary>
    public IReadOnlyList<XdsResource> Resources { get; }

    /// <summary>A content hash over every resource's name and version, independent of order.</summary>
    public string Version { get; }

    public int Count => Resources.Count;

    public bool TryGet(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out XdsResource? resource) =>
        _byName.TryGetValue(name, out resource);

    public bool Contains(string name) => _byName.ContainsKey(name);

    private static string ComputeVersion(IReadOnlyList<XdsResource> resources)
    {
        if (resources.Count == 0)
        {
            return "empty";
        }

        var ordered = resources.Select(r => r.Name + "\0" + r.Version).Order(StringComparer.Ordinal);
        var builder = new StringBuilder();
        foreach (var entry in ordered)
        {
            builder.Append(entry).Append('\n');
        }

        var text = builder.ToString();
        var buffer = ArrayPool<byte>.Shared.Rent(Encoding.UTF8.GetMaxByteCount(text.Length));
        try
        {
            var length = Encoding.UTF8.GetBytes(text, buffer);
            return XdsResource.Hash(buffer.AsSpan(0, length));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
