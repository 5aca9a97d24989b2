using System.Collections.Frozen;
using System.Net;
using Istio.Workload;

namespace Waypoint.Ztunnel.Discovery;

/// <summary>
/// istiod's view of the mesh as a ztunnel receives it: every <see cref="Workload"/> and <see cref="Service"/> of one
/// workload-discovery stream, immutable. A new view replaces the old one whole on every change.
/// </summary>
public sealed class MeshView
{
    public static readonly MeshView Empty = new(FrozenDictionary<string, Service>.Empty, FrozenDictionary<string, Workload>.Empty, 0);

    private readonly FrozenDictionary<(IPAddress Address, uint Port), Service> _servicesByVip;
    private readonly FrozenDictionary<IPAddress, Workload> _workloadsByAddress;

    public MeshView(IReadOnlyDictionary<string, Service> services, IReadOnlyDictionary<string, Workload> workloads, long revision)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(workloads);
        Services = services.ToFrozenDictionary(StringComparer.Ordinal);
        Workloads = workloads.ToFrozenDictionary(StringComparer.Ordinal);
        Revision = revision;
        var vips = new Dictionary<(IPAddress, uint), Service>();
        foreach (var service in Services.Values)
        {
            foreach (var address in service.Addresses)
            {
                if (ToAddress(address.Address) is { } ip)
                {
                    foreach (var port in service.Ports)
                    {
                        vips[(ip, port.ServicePort)] = service;
                    }
                }
            }
        }

        _servicesByVip = vips.ToFrozenDictionary();
        var byAddress = new Dictionary<IPAddress, Workload>();
        foreach (var workload in Workloads.Values)
        {
            foreach (var raw in workload.Addresses)
            {
                if (ToAddress(raw) is { } ip)
                {
                    byAddress[ip] = workload;
                }
            }
        }

        _workloadsByAddress = byAddress.ToFrozenDictionary();
    }

    /// <summary>Services keyed by their resource name, <c>&lt;namespace&gt;/&lt;hostname&gt;</c>.</summary>
    public FrozenDictionary<string, Service> Services { get; }

    /// <summary>Workloads keyed by their resource name (e.g. <c>Kubernetes//Pod/&lt;ns&gt;/&lt;pod&gt;</c>).</summary>
    public FrozenDictionary<string, Workload> Workloads { get; }

    /// <summary>Counts the changes applied to the stream's state; 0 before the first response.</summary>
    public long Revision { get; }

    public Service? ServiceAt(IPAddress vip, int port) =>
        _servicesByVip.TryGetValue((vip, (uint)port), out var service) ? service : null;

    public Workload? WorkloadAt(IPAddress address) => _workloadsByAddress.TryGetValue(address, out var workload) ? workload : null;

    /// <summary>The waypoint istiod binds the service to, or null when traffic to it goes direct.</summary>
    public static WaypointAddress? WaypointOf(Service service)
    {
        ArgumentNullException.ThrowIfNull(service);
        return WaypointAddress.From(service.Waypoint);
    }

    /// <summary>The workloads behind a service (those whose <c>services</c> map names it), with the ports they serve.</summary>
    public IEnumerable<(Workload Workload, PortList Ports)> EndpointsOf(Service service)
    {
        ArgumentNullException.ThrowIfNull(service);
        var key = service.Namespace + "/" + service.Hostname;
        foreach (var workload in Workloads.Values)
        {
            if (workload.Services.TryGetValue(key, out var ports))
            {
                yield return (workload, ports);
            }
        }
    }

    /// <summary>A raw 4 or 16 byte address as istiod sends it; anything else is no address.</summary>
    public static IPAddress? ToAddress(Google.Protobuf.ByteString raw) =>
        raw is { Length: 4 or 16 } ? new IPAddress(raw.Span) : null;
}

/// <summary>Where a waypoint is reached: an IP address, or a hostname (a Service) in a namespace; HBONE on <see cref="HbonePort"/>.</summary>
public sealed record WaypointAddress(IPAddress? Address, string? Namespace, string? Hostname, int HbonePort)
{
    public static WaypointAddress? From(GatewayAddress? gateway)
    {
        if (gateway is null)
        {
            return null;
        }

        var port = gateway.HboneMtlsPort == 0 ? 15008 : (int)gateway.HboneMtlsPort;
        return gateway.DestinationCase switch
        {
            GatewayAddress.DestinationOneofCase.Address when MeshView.ToAddress(gateway.Address.Address) is { } ip => new WaypointAddress(ip, null, null, port),
            GatewayAddress.DestinationOneofCase.Hostname => new WaypointAddress(null, gateway.Hostname.Namespace, gateway.Hostname.Hostname, port),
            _ => null,
        };
    }

    public override string ToString() => Address is not null ? $"{Address}:{HbonePort}" : $"{Namespace}/{Hostname}:{HbonePort}";
}
