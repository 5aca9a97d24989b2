using System.Collections.Frozen;
using System.Net;
using k8s.Models;

namespace Waypoint.Box.Dns;

/// <summary>
/// The names the cluster's DNS answers, as Kubernetes' DNS specification defines them for Services:
/// <c>&lt;service&gt;.&lt;namespace&gt;.svc.&lt;domain&gt;</c> resolves to the ClusterIPs, or for a headless Service to the
/// ready endpoints of its EndpointSlices; an ExternalName Service is a CNAME. Immutable: rebuilt whole on a change.
/// </summary>
public sealed class ClusterDnsRecords
{
    public static readonly ClusterDnsRecords Empty = new(FrozenDictionary<string, IReadOnlyList<IPAddress>>.Empty, FrozenDictionary<string, string>.Empty, "cluster.local");

    private readonly FrozenDictionary<string, IReadOnlyList<IPAddress>> _addresses;
    private readonly FrozenDictionary<string, string> _aliases;

    private ClusterDnsRecords(FrozenDictionary<string, IReadOnlyList<IPAddress>> addresses, FrozenDictionary<string, string> aliases, string domain)
    {
        _addresses = addresses;
        _aliases = aliases;
        Domain = domain;
    }

    public string Domain { get; }

    public int Count => _addresses.Count + _aliases.Count;

    public static ClusterDnsRecords Build(IEnumerable<V1Service> services, IEnumerable<V1EndpointSlice> endpointSlices, string domain = "cluster.local")
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(endpointSlices);
        var slicesByService = endpointSlices
            .Where(s => s.Metadata?.Labels?.ContainsKey("kubernetes.io/service-name") == true)
            .ToLookup(s => (s.Metadata.NamespaceProperty, s.Metadata.Labels["kubernetes.io/service-name"]));
        var addresses = new Dictionary<string, IReadOnlyList<IPAddress>>(StringComparer.OrdinalIgnoreCase);
        var aliases = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var service in services)
        {
            var name = $"{service.Metadata.Name}.{service.Metadata.NamespaceProperty}.svc.{domain}";
            var spec = service.Spec;
            if (spec?.Type == "ExternalName" && !string.IsNullOrEmpty(spec.ExternalName))
            {
                aliases[name] = spec.ExternalName.TrimEnd('.');
                continue;
            }

            var ips = spec?.ClusterIPs ?? (spec?.ClusterIP is { } single ? [single] : []);
            var resolved = ips.Count > 0 && ips[0] != "None"
                ? Parse(ips)
                : Parse(slicesByService[(service.Metadata.NamespaceProperty, service.Metadata.Name)]
                    .SelectMany(s => s.Endpoints ?? [])
                    .Where(e => e.Conditions?.Ready != false)
                    .SelectMany(e => e.Addresses ?? []));
            if (resolved.Count > 0)
            {
                addresses[name] = resolved;
            }
        }

        return new ClusterDnsRecords(addresses.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase), aliases.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase), domain);
    }

    /// <summary>The addresses of <paramref name="name"/> (with or without the trailing dot), or null when it is not a cluster name.</summary>
    public IReadOnlyList<IPAddress>? AddressesOf(string name) =>
        _addresses.TryGetValue(name.TrimEnd('.'), out var found) ? found : null;

    /// <summary>The target of an ExternalName Service's name, or null.</summary>
    public string? AliasOf(string name) => _aliases.TryGetValue(name.TrimEnd('.'), out var target) ? target : null;

    /// <summary>True when <paramref name="name"/> is inside the cluster's zone (answered here, never forwarded).</summary>
    public bool IsInZone(string name)
    {
        var trimmed = name.TrimEnd('.');
        return trimmed.Equals(Domain, StringComparison.OrdinalIgnoreCase) || trimmed.EndsWith("." + Domain, StringComparison.OrdinalIgnoreCase);
    }

    private static List<IPAddress> Parse(IEnumerable<string> values)
    {
        var result = new List<IPAddress>();
        foreach (var value in values)
        {
            if (IPAddress.TryParse(value, out var ip) && !result.Contains(ip))
            {
                result.Add(ip);
            }
        }

        return result;
    }
}
