using System.Net;
using k8s.Models;
using Waypoint.Box.Services;

namespace Waypoint.Box.Tests.Services;

public sealed class ServiceProxyTableTests
{
    private static readonly IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>> NoLabels = new Dictionary<string, IReadOnlyDictionary<string, string>>();
    private static readonly HashSet<string> NothingServedByBox = [];

    [Fact]
    public void Each_Tcp_Port_Routes_To_The_Ready_Endpoints_At_The_Port_Of_The_Same_Name()
    {
        var service = Service("demo", "echo", "10.96.4.7", Port("http", 80, "web"), Port("admin", 9000, "9090"));
        // Two slices whose pods name "web" differently (a named targetPort resolves per pod).
        var first = Slice("demo", "echo", [("http", 8080), ("admin", 9090)], ("10.244.1.5", true), ("10.244.1.6", false));
        var second = Slice("demo", "echo", [("http", 8081), ("admin", 9090)], ("10.244.1.7", null));

        var table = ServiceProxyTable.Build([service], [first, second], NoLabels, NothingServedByBox);

        Assert.Equal(2, table.Routes.Count);
        var http = table.Routes[new IPEndPoint(IPAddress.Parse("10.96.4.7"), 80)];
        Assert.Equal("demo/echo", http.Service);
        Assert.Equal([Ep("10.244.1.5", 8080), Ep("10.244.1.7", 8081)], http.Backends.ToArray());
        Assert.Equal([Ep("10.244.1.5", 9090), Ep("10.244.1.7", 9090)], table.Routes[new IPEndPoint(IPAddress.Parse("10.96.4.7"), 9000)].Backends.ToArray());
    }

    [Fact]
    public void A_Port_Without_Ready_Endpoints_Is_Not_Bound()
    {
        var service = Service("demo", "echo", "10.96.4.7", Port("http", 80, "http"));
        var notReady = Slice("demo", "echo", [("http", 8080)], ("10.244.1.5", false));

        Assert.Empty(ServiceProxyTable.Build([service], [notReady], NoLabels, NothingServedByBox).Routes);
        Assert.Empty(ServiceProxyTable.Build([service], [], NoLabels, NothingServedByBox).Routes);
    }

    [Fact]
    public void Headless_ExternalName_Udp_Ambient_And_Box_Served_Services_Are_Skipped()
    {
        var ready = (Address: "10.244.1.5", Ready: (bool?)true);
        V1Service[] services =
        [
            Service("demo", "headless", "None", Port("http", 80, "http")),
            new V1Service { Metadata = new V1ObjectMeta { Name = "ext", NamespaceProperty = "demo" }, Spec = new V1ServiceSpec { Type = "ExternalName", ExternalName = "example.com" } },
            Service("demo", "udp", "10.96.4.8", new V1ServicePort { Name = "dns", Port = 53, Protocol = "UDP" }),
            Labelled(Service("demo", "mesh", "10.96.4.9", Port("http", 80, "http")), "ambient"),
            Service("mesh-ns", "inherits", "10.96.4.10", Port("http", 80, "http")),
            Labelled(Service("mesh-ns", "opted-out", "10.96.4.11", Port("http", 80, "http")), "none"),
            Service("kube-system", "kube-dns", "10.96.0.10", Port("dns-tcp", 53, "53")),
        ];
        V1EndpointSlice[] slices =
        [
            Slice("demo", "headless", [("http", 80)], ready),
            Slice("demo", "udp", [("dns", 53)], ready),
            Slice("demo", "mesh", [("http", 80)], ready),
            Slice("mesh-ns", "inherits", [("http", 80)], ready),
            Slice("mesh-ns", "opted-out", [("http", 80)], ready),
            Slice("kube-system", "kube-dns", [("dns-tcp", 53)], ready),
        ];
        var labels = new Dictionary<string, IReadOnlyDictionary<string, string>> { ["mesh-ns"] = new Dictionary<string, string> { ["istio.io/dataplane-mode"] = "ambient" } };

        var table = ServiceProxyTable.Build(services, slices, labels, new HashSet<string> { "kube-system/kube-dns" });

        Assert.Equal("mesh-ns/opted-out", Assert.Single(table.Routes.Values).Service);
    }

    private static IPEndPoint Ep(string address, int port) => new(IPAddress.Parse(address), port);

    private static V1ServicePort Port(string name, int port, string targetPort) => new() { Name = name, Port = port, TargetPort = targetPort, Protocol = "TCP" };

    private static V1Service Service(string ns, string name, string clusterIp, params V1ServicePort[] ports) => new()
    {
        Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = ns },
        Spec = new V1ServiceSpec { ClusterIP = clusterIp, ClusterIPs = [clusterIp], Ports = ports },
    };

    private static V1Service Labelled(V1Service service, string mode)
    {
        service.Metadata.Labels = new Dictionary<string, string> { ["istio.io/dataplane-mode"] = mode };
        return service;
    }

    private static V1EndpointSlice Slice(string ns, string service, (string Name, int Port)[] ports, params (string Address, bool? Ready)[] endpoints) => new()
    {
        Metadata = new V1ObjectMeta { Name = $"{service}-{Guid.NewGuid():N}", NamespaceProperty = ns, Labels = new Dictionary<string, string> { ["kubernetes.io/service-name"] = service } },
        AddressType = "IPv4",
        Ports = [.. ports.Select(p => new Discoveryv1EndpointPort { Name = p.Name, Port = p.Port, Protocol = "TCP" })],
        Endpoints = [.. endpoints.Select(e => new V1Endpoint { Addresses = [e.Address], Conditions = e.Ready is { } ready ? new V1EndpointConditions { Ready = ready } : null })],
    };
}
