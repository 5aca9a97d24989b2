using System.Collections.Frozen;
using System.Collections.Immutable;
using System.Net;
using System.Net.Sockets;
using k8s.Models;

namespace Waypoint.Box.Services;

/// <summary>One bound VIP port: connections to <see cref="Frontend"/> go round robin to <see cref="Backends"/>.</summary>
public sealed record ServiceRoute(IPEndPoint Frontend, string Service, string PortName, ImmutableArray<IPEndPoint> Backends);

/// <summary>
/// What the kube-proxy role binds, computed from Services and EndpointSlices alone (pure, immutable): for every TCP
/// port of every ClusterIP (IPv4) of a Service that is not headless, not ExternalName, not enrolled in the ambient
/// mesh (<see cref="AmbientEnrollment"/>) and not served by the box itself (the DNS Service), a route to the ready
/// endpoints of its EndpointSlices at the port each slice gives for that Service port's name (how a named targetPort
/// resolves: per pod, by the endpointslice controller). A port with no ready endpoint has no route: its VIP port is
/// not bound, so a client is refused at once, as kube-proxy's REJECT rule does, instead of being accepted and cut.
/// </summary>
public sealed class ServiceProxyTable
{
    public static readonly ServiceProxyTable Empty = new(FrozenDictionary<IPEndPoint, ServiceRoute>.Empty);

    private ServiceProxyTable(FrozenDictionary<IPEndPoint, ServiceRoute> routes) => Routes = routes;

    public FrozenDictionary<IPEndPoint, ServiceRoute> Routes { get; }

    /// <param name="services">Every Service.</param>
    /// <param name="endpointSlices">Every EndpointSlice.</param>
    /// <param name="namespaceLabels">Each namespace's labels, by name (for ambient enrollment).</param>
    /// <param name="servedByBox">Services whose VIP the box serves itself (<c>namespace/name</c>), never proxied.</param>
    public static ServiceProxyTable Build(
        IEnumerable<V1Service> services,
        IEnumerable<V1EndpointSlice> endpointSlices,
        IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>> namespaceLabels,
        IReadOnlySet<string> servedByBox)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(endpointSlices);
        ArgumentNullException.ThrowIfNull(namespaceLabels);
        ArgumentNullException.ThrowIfNull(servedByBox);
        var slicesByService = endpointSlices
            .Where(s => s.AddressType == "IPv4" && s.Metadata?.Labels?.ContainsKey(ServiceNameLabel) == true)
            .ToLookup(s => Key(s.Metadata.NamespaceProperty, s.Metadata.Labels[ServiceNameLabel]), StringComparer.Ordinal);
        var routes = new Dictionary<IPEndPoint, ServiceRoute>();
        foreach (var service in services)
        {
            var key = Key(service.Metadata?.NamespaceProperty, service.Metadata?.Name);
            var spec = service.Spec;
            if (spec is null || spec.Type == "ExternalName" || servedByBox.Contains(key)
                || AmbientEnrollment.IsEnrolled(service, namespaceLabels.GetValueOrDefault(service.Metadata!.NamespaceProperty ?? string.Empty)))
            {
                continue;
            }

            var clusterIps = (spec.ClusterIPs is { Count: > 0 } many ? many : spec.ClusterIP is { } one ? [one] : [])
                .Select(ip => IPAddress.TryParse(ip, out var parsed) ? parsed : null)
                .OfType<IPAddress>()
                .Where(ip => ip.AddressFamily == AddressFamily.InterNetwork)
                .ToList();
            foreach (var port in spec.Ports ?? [])
            {
                if ((port.Protocol ?? "TCP") != "TCP")
                {
                    continue;
                }

                var portName = port.Name ?? string.Empty;
                var backends = BackendsOf(slicesByService[key], portName);
                if (backends.IsEmpty)
                {
                    continue;
                }

                foreach (var ip in clusterIps)
                {
                    var frontend = new IPEndPoint(ip, port.Port);
                    routes[frontend] = new ServiceRoute(frontend, key, portName, backends);
                }
            }
        }

        return new ServiceProxyTable(routes.ToFrozenDictionary());
    }

    private const string ServiceNameLabel = "kubernetes.io/service-name";

    private static string Key(string? @namespace, string? name) => $"{@namespace}/{name}";

    private static ImmutableArray<IPEndPoint> BackendsOf(IEnumerable<V1EndpointSlice> slices, string portName)
    {
        var backends = new SortedSet<IPEndPoint>(Comparer<IPEndPoint>.Create((a, b) =>
        {
            var byAddress = string.CompareOrdinal(a.Address.ToString(), b.Address.ToString());
            return byAddress != 0 ? byAddress : a.Port.CompareTo(b.Port);
        }));
        foreach (var slice in slices)
        {
            var port = slice.Ports?.FirstOrDefault(p => (p.Name ?? string.Empty) == portName && (p.Protocol ?? "TCP") == "TCP");
            if (port?.Port is not { } number || number is <= 0 or > 65535)
            {
                continue;
            }

            // An unset ready condition means ready (the EndpointSlice API's rule).
            foreach (var endpoint in (slice.Endpoints ?? []).Where(e => e.Conditions?.Ready != false))
            {
                foreach (var address in endpoint.Addresses ?? [])
                {
                    if (IPAddress.TryParse(address, out var ip) && ip.AddressFamily == AddressFamily.InterNetwork)
                    {
                        backends.Add(new IPEndPoint(ip, number));
                    }
                }
            }
        }

        return [.. backends];
    }
}
