using k8s.Models;
using Waypoint.Controller.Client;

namespace Waypoint.Controller.Reconciliation;

/// <summary>
/// Pools the repeated strings of the two most numerous kinds besides Pods, Services and EndpointSlices (one of each per
/// Service): port names and protocols, address types, selectors, the target references' kind and namespace.
/// The informer pools every object's namespace and labels already (<see cref="StringPool"/>).
/// </summary>
internal static class SharedStrings
{
    public static V1Service Pool(V1Service service)
    {
        var pool = StringPool.Shared;
        if (service.Spec is { } spec)
        {
            spec.Type = pool.Intern(spec.Type);
            spec.SessionAffinity = pool.Intern(spec.SessionAffinity);
            spec.IpFamilyPolicy = pool.Intern(spec.IpFamilyPolicy);
            spec.InternalTrafficPolicy = pool.Intern(spec.InternalTrafficPolicy);
            spec.Selector = pool.Intern(spec.Selector);
            if (spec.IpFamilies is { } families)
            {
                spec.IpFamilies = families.Select(f => pool.Intern(f)).ToList();
            }

            foreach (var port in spec.Ports ?? [])
            {
                port.Name = pool.Intern(port.Name);
                port.Protocol = pool.Intern(port.Protocol);
                port.AppProtocol = pool.Intern(port.AppProtocol);
            }
        }

        return service;
    }

    public static V1EndpointSlice Pool(V1EndpointSlice slice)
    {
        var pool = StringPool.Shared;
        slice.AddressType = pool.Intern(slice.AddressType);
        foreach (var port in slice.Ports ?? [])
        {
            port.Name = pool.Intern(port.Name);
            port.Protocol = pool.Intern(port.Protocol);
            port.AppProtocol = pool.Intern(port.AppProtocol);
        }

        foreach (var endpoint in slice.Endpoints ?? [])
        {
            endpoint.NodeName = pool.Intern(endpoint.NodeName);
            endpoint.Zone = pool.Intern(endpoint.Zone);
            if (endpoint.TargetRef is { } target)
            {
                target.Kind = pool.Intern(target.Kind);
                target.NamespaceProperty = pool.Intern(target.NamespaceProperty);
                target.ApiVersion = pool.Intern(target.ApiVersion);
            }
        }

        return slice;
    }
}
