using System.Net;
using Google.Protobuf;
using Istio.Workload;
using Waypoint.Node;
using Waypoint.Ztunnel.Discovery;

namespace Waypoint.Ztunnel.Tests.Mesh;

/// <summary>A fixed mesh as istiod would send it to the ztunnel of node-1, and that node's pod networks.</summary>
internal static class TestMesh
{
    public const string NodeName = "node-1";
    public const string Echo = "demo/echo.demo.svc.cluster.local";
    public const string Bound = "demo/bound.demo.svc.cluster.local";
    public const string WaypointService = "demo/waypoint.demo.svc.cluster.local";

    /// <summary>The waypoint pod is labelled istio.io/dataplane-mode=none, as waypoints are.</summary>
    public static readonly IReadOnlySet<string> OptedOut = new HashSet<string>(StringComparer.Ordinal) { "demo/waypoint-0" };

    public static readonly IReadOnlySet<string> AmbientNamespaces = new HashSet<string>(StringComparer.Ordinal) { "demo" };

    public static MeshView View(Func<Service, Service>? editBound = null)
    {
        var workloads = new Dictionary<string, Workload>(StringComparer.Ordinal)
        {
            // A Deployment's pod, as istiod describes it: the baggage its outbound CONNECTs carry.
            ["Kubernetes//Pod/demo/client"] = Pod("client", "demo", "client", "10.244.1.3", NodeName).WithDeployment("sleep", "sleep", "v1"),
            ["Kubernetes//Pod/demo/echo-a"] = Pod("echo-a", "demo", "echo", "10.244.1.2", NodeName, (Echo, 80, 8080), (Bound, 80, 8080)),
            ["Kubernetes//Pod/demo/echo-b"] = Pod("echo-b", "demo", "echo", "10.244.1.4", NodeName, (Echo, 80, 8080), (Bound, 80, 8080)),
            ["Kubernetes//Pod/demo/echo-c"] = Pod("echo-c", "demo", "echo", "10.244.1.5", NodeName, (Echo, 80, 8080)).WithStatus(WorkloadStatus.Unhealthy),
            ["Kubernetes//Pod/demo/echo-far"] = Pod("echo-far", "demo", "echo", "10.244.2.7", "node-2", (Echo, 80, 9090)),
            ["Kubernetes//Pod/demo/waypoint-0"] = Pod("waypoint-0", "demo", "waypoint", "10.244.1.9", NodeName, (WaypointService, 15008, 15008)).WithTunnel(TunnelProtocol.None),
            ["Kubernetes//Pod/legacy/plain"] = Pod("plain", "legacy", "default", "10.244.1.6", NodeName).WithTunnel(TunnelProtocol.None),
        };
        var bound = Svc("bound", "demo", "10.96.0.30", (80, 8080));
        bound.Waypoint = new GatewayAddress { Address = new NetworkAddress { Address = Bytes("10.96.0.40") }, HboneMtlsPort = 15008 };
        var services = new Dictionary<string, Service>(StringComparer.Ordinal)
        {
            [Echo] = Svc("echo", "demo", "10.96.0.20", (80, 8080)),
            [Bound] = editBound is null ? bound : editBound(bound),
            [WaypointService] = Svc("waypoint", "demo", "10.96.0.40", (15008, 15008)),
            ["default/kubernetes.default.svc.cluster.local"] = Svc("kubernetes", "default", "10.96.0.1", (443, 6443)),
        };
        return new MeshView(services, workloads, 7);
    }

    public static IReadOnlyList<PodNetworkNamespace> PodNetworks() =>
    [
        new("uid-client", "demo", "client", IPAddress.Parse("10.244.1.3"), "/run/node/netns/client"),
        new("uid-echo-a", "demo", "echo-a", IPAddress.Parse("10.244.1.2"), "/run/node/netns/echo-a"),
        new("uid-echo-b", "demo", "echo-b", IPAddress.Parse("10.244.1.4"), "/run/node/netns/echo-b"),
        new("uid-plain", "legacy", "plain", IPAddress.Parse("10.244.1.6"), "/run/node/netns/plain"),
        new("uid-waypoint", "demo", "waypoint-0", IPAddress.Parse("10.244.1.9"), "/run/node/netns/waypoint-0"),
    ];

    private static Workload WithStatus(this Workload workload, WorkloadStatus status)
    {
        workload.Status = status;
        return workload;
    }

    private static Workload WithDeployment(this Workload workload, string deployment, string canonicalName, string canonicalRevision)
    {
        workload.WorkloadType = WorkloadType.Deployment;
        workload.WorkloadName = deployment;
        workload.CanonicalName = canonicalName;
        workload.CanonicalRevision = canonicalRevision;
        workload.ClusterId = "Kubernetes";
        return workload;
    }

    private static Workload WithTunnel(this Workload workload, TunnelProtocol protocol)
    {
        workload.TunnelProtocol = protocol;
        return workload;
    }

    private static Workload Pod(string name, string ns, string serviceAccount, string ip, string node, params (string Service, uint Port, uint Target)[] services)
    {
        var workload = new Workload
        {
            Uid = $"Kubernetes//Pod/{ns}/{name}",
            Name = name,
            Namespace = ns,
            ServiceAccount = serviceAccount,
            Node = node,
            TunnelProtocol = TunnelProtocol.Hbone,
            WorkloadType = WorkloadType.Pod,
            Status = WorkloadStatus.Healthy,
        };
        workload.Addresses.Add(Bytes(ip));
        foreach (var (service, port, target) in services)
        {
            var list = new PortList();
            list.Ports.Add(new Port { ServicePort = port, TargetPort = target });
            workload.Services[service] = list;
        }

        return workload;
    }

    private static Service Svc(string name, string ns, string vip, params (uint Port, uint Target)[] ports)
    {
        var service = new Service { Name = name, Namespace = ns, Hostname = $"{name}.{ns}.svc.cluster.local", Canonical = true };
        service.Addresses.Add(new NetworkAddress { Address = Bytes(vip) });
        foreach (var (port, target) in ports)
        {
            service.Ports.Add(new Port { ServicePort = port, TargetPort = target });
        }

        return service;
    }

    private static ByteString Bytes(string ip) => ByteString.CopyFrom(IPAddress.Parse(ip).GetAddressBytes());
}
