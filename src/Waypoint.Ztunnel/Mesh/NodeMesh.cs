using System.Net;
using Istio.Workload;
using Waypoint.Node;
using Waypoint.Ztunnel.Discovery;

namespace Waypoint.Ztunnel.Mesh;

/// <summary>A ServiceAccount as the mesh names it; <see cref="FileName"/> is safe as a file and Envoy resource name.</summary>
public readonly record struct ServiceAccountKey(string Namespace, string Name) : IComparable<ServiceAccountKey>
{
    public string FileName => $"{Namespace}~{Name}";

    public string SpiffeId(string trustDomain) => $"spiffe://{trustDomain}/ns/{Namespace}/sa/{Name}";

    public int CompareTo(ServiceAccountKey other) => string.CompareOrdinal(FileName, other.FileName);

    public static bool operator <(ServiceAccountKey left, ServiceAccountKey right) => left.CompareTo(right) < 0;

    public static bool operator <=(ServiceAccountKey left, ServiceAccountKey right) => left.CompareTo(right) <= 0;

    public static bool operator >(ServiceAccountKey left, ServiceAccountKey right) => left.CompareTo(right) > 0;

    public static bool operator >=(ServiceAccountKey left, ServiceAccountKey right) => left.CompareTo(right) >= 0;

    public override string ToString() => $"{Namespace}/{Name}";
}

/// <summary>
/// A pod on this node in an ambient namespace, with the network namespace the node made for it. <see cref="Captured"/>:
/// istiod already reports it with tunnel protocol HBONE (after the ztunnel annotated it captured). <see cref="Baggage"/>:
/// the <c>baggage</c> header its outbound CONNECTs carry (<see cref="WorkloadBaggage"/>); empty for none.
/// </summary>
public sealed record EnrolledPod(string Namespace, string Name, ServiceAccountKey ServiceAccount, IPAddress Address, string NetworkNamespacePath, bool Captured = true, string Baggage = "")
{
    public string Key => $"{Namespace}/{Name}";
}

/// <summary>One HBONE hop: where to dial (<c>ip:15008</c>) and the CONNECT authority to ask for.</summary>
public sealed record HboneTarget(IPEndPoint Connect, string Authority);

/// <summary>
/// One captured Service port (VIP:port). With a waypoint, every connection is tunnelled to it with authority VIP:port
/// (<see cref="WaypointUnresolved"/> when istiod names a waypoint this view cannot reach: the port fails closed);
/// otherwise to one of <see cref="Endpoints"/> (ready, enrolled pods) with authority podIP:targetPort.
/// </summary>
public sealed record ServicePortRoute(string Service, IPAddress Vip, int Port, HboneTarget? Waypoint, bool WaypointUnresolved, IReadOnlyList<HboneTarget> Endpoints)
{
    public string Key => $"{Service}:{Port}";
}

/// <summary>What this node's ztunnel serves: the enrolled local pods and every captured Service port; immutable, ordered.</summary>
public sealed record NodeMeshModel(string NodeName, string TrustDomain, IReadOnlyList<EnrolledPod> Pods, IReadOnlyList<ServicePortRoute> Services, long Revision)
{
    public IReadOnlyList<ServiceAccountKey> ServiceAccounts => [.. Pods.Select(p => p.ServiceAccount).Distinct().Order()];

    /// <summary>The same mesh with only the pods whose ServiceAccount has a certificate (the others wait for one).</summary>
    public NodeMeshModel WithIdentities(IReadOnlySet<ServiceAccountKey> ready) => this with { Pods = [.. Pods.Where(p => ready.Contains(p.ServiceAccount))] };
}

/// <summary>Builds the node's <see cref="NodeMeshModel"/> from istiod's view and the node's pod networks (pure).</summary>
public static class NodeMesh
{
    public const int HbonePort = 15008;

    /// <param name="ambientNamespaces">Namespaces labelled <c>istio.io/dataplane-mode=ambient</c>: their pods on this node are enrolled.</param>
    /// <param name="optedOutPods">Pods (<c>ns/name</c>) labelled <c>istio.io/dataplane-mode=none</c>, e.g. waypoints: never captured (the ztunnel would take their 15008).</param>
    public static NodeMeshModel Build(MeshView view, IReadOnlyList<PodNetworkNamespace> podNetworks, IReadOnlySet<string> ambientNamespaces, IReadOnlySet<string> optedOutPods, string nodeName, string trustDomain = "cluster.local")
    {
        ArgumentNullException.ThrowIfNull(optedOutPods);
        ArgumentNullException.ThrowIfNull(ambientNamespaces);
        ArgumentNullException.ThrowIfNull(view);
        ArgumentNullException.ThrowIfNull(podNetworks);
        var pods = new List<EnrolledPod>();
        foreach (var network in podNetworks)
        {
            if (!ambientNamespaces.Contains(network.Namespace)
                || optedOutPods.Contains($"{network.Namespace}/{network.Name}")
                || view.WorkloadAt(network.Address) is not { } workload
                || workload.Node != nodeName
                || workload.Namespace != network.Namespace
                || workload.Name != network.Name)
            {
                continue;
            }

            var account = string.IsNullOrEmpty(workload.ServiceAccount) ? "default" : workload.ServiceAccount;
            pods.Add(new EnrolledPod(workload.Namespace, workload.Name, new ServiceAccountKey(workload.Namespace, account), network.Address, network.NamespacePath, workload.TunnelProtocol == TunnelProtocol.Hbone, WorkloadBaggage.HeaderValue(workload)));
        }

        pods.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
        var services = new List<ServicePortRoute>();
        if (pods.Count > 0)
        {
            foreach (var (key, service) in view.Services.OrderBy(s => s.Key, StringComparer.Ordinal))
            {
                foreach (var vip in service.Addresses.Select(a => MeshView.ToAddress(a.Address)).OfType<IPAddress>().Where(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork).Distinct())
                {
                    foreach (var port in service.Ports.OrderBy(p => p.ServicePort))
                    {
                        // A Service without a waypoint or enrolled endpoints (kubernetes.default) is not the mesh's: left uncaptured.
                        if (Route(view, key, service, vip, port) is { } route && (route.Waypoint is not null || route.WaypointUnresolved || route.Endpoints.Count > 0))
                        {
                            services.Add(route);
                        }
                    }
                }
            }
        }

        return new NodeMeshModel(nodeName, trustDomain, pods, services, view.Revision);
    }

    private static ServicePortRoute Route(MeshView view, string key, Service service, IPAddress vip, Port port)
    {
        var servicePort = (int)port.ServicePort;
        if (MeshView.WaypointOf(service) is { } waypoint)
        {
            var target = ResolveWaypoint(view, waypoint);
            return new ServicePortRoute(key, vip, servicePort, target is null ? null : new HboneTarget(target, $"{vip}:{servicePort}"), target is null, []);
        }

        var endpoints = new List<HboneTarget>();
        foreach (var (workload, ports) in view.EndpointsOf(service).OrderBy(e => e.Workload.Uid, StringComparer.Ordinal))
        {
            if (workload.Status != WorkloadStatus.Healthy || workload.TunnelProtocol != TunnelProtocol.Hbone
                || workload.Addresses.Select(MeshView.ToAddress).FirstOrDefault(a => a is not null) is not { } address)
            {
                continue;
            }

            var targetPort = ports.Ports.FirstOrDefault(p => p.ServicePort == port.ServicePort)?.TargetPort is { } mapped and not 0
                ? mapped
                : port.TargetPort != 0 ? port.TargetPort : port.ServicePort;
            endpoints.Add(new HboneTarget(new IPEndPoint(address, HbonePort), $"{address}:{targetPort}"));
        }

        return new ServicePortRoute(key, vip, servicePort, null, false, endpoints);
    }

    /// <summary>
    /// A waypoint address is usually the waypoint Service's VIP (or its hostname): dial one of its ready pods on the
    /// HBONE port, as ztunnel does (nothing answers on a VIP here: there is no kube-proxy). Any other IP is dialled as given.
    /// </summary>
    private static IPEndPoint? ResolveWaypoint(MeshView view, WaypointAddress waypoint)
    {
        Service? service = null;
        if (waypoint.Address is { } ip)
        {
            service = view.ServiceAt(ip, waypoint.HbonePort);
            if (service is null)
            {
                return new IPEndPoint(ip, waypoint.HbonePort);
            }
        }
        else if (!view.Services.TryGetValue($"{waypoint.Namespace}/{waypoint.Hostname}", out service))
        {
            return null;
        }

        foreach (var (workload, ports) in view.EndpointsOf(service).OrderBy(e => e.Workload.Uid, StringComparer.Ordinal))
        {
            if (workload.Status == WorkloadStatus.Healthy && workload.Addresses.Select(MeshView.ToAddress).FirstOrDefault(a => a is not null) is { } address)
            {
                var target = ports.Ports.FirstOrDefault(p => p.ServicePort == (uint)waypoint.HbonePort)?.TargetPort is { } mapped and not 0 ? (int)mapped : waypoint.HbonePort;
                return new IPEndPoint(address, target);
            }
        }

        return null;
    }
}
