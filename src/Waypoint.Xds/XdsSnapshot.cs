using Envoy.Config.Cluster.V3;
using Envoy.Config.Endpoint.V3;
using Envoy.Config.Listener.V3;
using Envoy.Config.Route.V3;
using Envoy.Extensions.TransportSockets.Tls.V3;

namespace Waypoint.Xds;

/// <summary>
/// The complete xDS configuration of one node group (one waypoint): per type an ordered name → resource map and a
/// version that is the content hash of that type's resources. Immutable; each resource is encoded once.
/// </summary>
/// <remarks>
/// Equal content gives equal versions, so publishing an unchanged snapshot pushes nothing.
/// The messages given to <see cref="Create"/> must not be modified afterwards.
/// </remarks>
public sealed class XdsSnapshot
{
    private static readonly XdsResourceSet[] s_emptySets =
        XdsTypeUrls.PushOrder.Select(t => new XdsResourceSet(t, [])).ToArray();

    private readonly XdsResourceSet[] _sets;
    private readonly Lazy<string[]> _edsServiceNames;

    private XdsSnapshot(XdsResourceSet[] sets)
    {
        _sets = sets;
        Version = string.Join('.', sets.Select(s => s.Version));
        _edsServiceNames = new Lazy<string[]>(() => Clusters.Resources
            .Select(r => r.EdsServiceName)
            .OfType<string>()
            .Distinct(StringComparer.Ordinal)
            .ToArray());
    }

    /// <summary>The endpoint names Envoy subscribes to over EDS once it has this snapshot's clusters.</summary>
    internal IReadOnlyList<string> EdsServiceNames => _edsServiceNames.Value;

    /// <summary>An empty snapshot: no listeners, routes, clusters, endpoints or secrets.</summary>
    public static XdsSnapshot Empty { get; } = new(s_emptySets);

    /// <summary>All per-type versions joined: changes whenever any type changes.</summary>
    public string Version { get; }

    public XdsResourceSet Listeners => _sets[XdsTypeUrls.IndexOf(XdsTypeUrls.Listener)];

    public XdsResourceSet Routes => _sets[XdsTypeUrls.IndexOf(XdsTypeUrls.RouteConfiguration)];

    public XdsResourceSet Clusters => _sets[XdsTypeUrls.IndexOf(XdsTypeUrls.Cluster)];

    public XdsResourceSet Endpoints => _sets[XdsTypeUrls.IndexOf(XdsTypeUrls.ClusterLoadAssignment)];

    public XdsResourceSet Secrets => _sets[XdsTypeUrls.IndexOf(XdsTypeUrls.Secret)];

    /// <summary>Builds a snapshot; throws <see cref="ArgumentException"/> on duplicate or empty names.</summary>
    public static XdsSnapshot Create(
        IEnumerable<Listener> listeners,
        IEnumerable<RouteConfiguration> routes,
        IEnumerable<Cluster> clusters,
        IEnumerable<ClusterLoadAssignment> endpoints,
        IEnumerable<Secret>? secrets = null)
    {
        ArgumentNullException.ThrowIfNull(listeners);
        ArgumentNullException.ThrowIfNull(routes);
        ArgumentNullException.ThrowIfNull(clusters);
        ArgumentNullException.ThrowIfNull(endpoints);
        return Create(
            listeners.Select(l => XdsResource.Create(XdsTypeUrls.Listener, l.Name, l))
                .Concat(routes.Select(r => XdsResource.Create(XdsTypeUrls.RouteConfiguration, r.Name, r)))
                .Concat(clusters.Select(c => XdsResource.Create(XdsTypeUrls.Cluster, c.Name, c)))
                .Concat(endpoints.Select(e => XdsResource.Create(XdsTypeUrls.ClusterLoadAssignment, e.ClusterName, e)))
                .Concat((secrets ?? []).Select(s => XdsResource.Create(XdsTypeUrls.Secret, s.Name, s))));
    }

    /// <summary>Builds a snapshot from already encoded resources of any of the known types.</summary>
    public static XdsSnapshot Create(IEnumerable<XdsResource> resources)
    {
        ArgumentNullException.ThrowIfNull(resources);
        var lists = XdsTypeUrls.PushOrder.Select(_ => new List<XdsResource>()).ToArray();
        foreach (var resource in resources)
        {
            var index = XdsTypeUrls.IndexOf(resource.TypeUrl);
            if (index < 0)
            {
                throw new ArgumentException($"Resource '{resource.Name}' has unsupported type '{resource.TypeUrl}'.", nameof(resources));
            }

            lists[index].Add(resource);
        }

        return new XdsSnapshot(XdsTypeUrls.PushOrder.Select((t, i) => new XdsResourceSet(t, lists[i])).ToArray());
    }

    /// <summary>The resources of <paramref name="typeUrl"/> (one of <see cref="XdsTypeUrls"/>).</summary>
    public XdsResourceSet GetResources(string typeUrl)
    {
        var index = XdsTypeUrls.IndexOf(typeUrl);
        return index >= 0 ? _sets[index] : throw new ArgumentException($"Unsupported type URL '{typeUrl}'.", nameof(typeUrl));
    }

    /// <summary>The content-hash version of <paramref name="typeUrl"/>'s resources.</summary>
    public string GetVersion(string typeUrl) => GetResources(typeUrl).Version;
}
