using System.Net;
using Istio.Workload;
using Waypoint.Ztunnel.Mesh;

namespace Waypoint.Ztunnel.Tests.Mesh;

public sealed class NodeMeshTests
{
    private static NodeMeshModel Build(Func<Service, Service>? editBound = null) =>
        NodeMesh.Build(TestMesh.View(editBound), TestMesh.PodNetworks(), TestMesh.AmbientNamespaces, TestMesh.OptedOut, TestMesh.NodeName);

    [Fact]
    public void Only_pods_of_ambient_namespaces_that_istiod_places_on_this_node_and_that_did_not_opt_out_are_enrolled()
    {
        var model = Build();
        Assert.Equal(["demo/client", "demo/echo-a", "demo/echo-b"], model.Pods.Select(p => p.Key));
        var client = model.Pods[0];
        Assert.Equal(new ServiceAccountKey("demo", "client"), client.ServiceAccount);
        Assert.Equal("/run/node/netns/client", client.NetworkNamespacePath);
        Assert.True(client.Captured);
        Assert.Equal("spiffe://cluster.local/ns/demo/sa/client", client.ServiceAccount.SpiffeId(model.TrustDomain));
        Assert.Equal([new ServiceAccountKey("demo", "client"), new ServiceAccountKey("demo", "echo")], model.ServiceAccounts);

        // Not yet reported HBONE by istiod: enrolled, to be annotated captured.
        var fresh = NodeMesh.Build(TestMesh.View(), TestMesh.PodNetworks(), TestMesh.AmbientNamespaces, new HashSet<string>(), TestMesh.NodeName);
        Assert.False(Assert.Single(fresh.Pods, p => p.Name == "waypoint-0").Captured);

        var none = NodeMesh.Build(TestMesh.View(), TestMesh.PodNetworks(), new HashSet<string>(), TestMesh.OptedOut, TestMesh.NodeName);
        Assert.Empty(none.Pods);
        Assert.Empty(none.Services);
    }

    [Fact]
    public void A_direct_Service_port_lists_its_healthy_HBONE_endpoints_with_their_target_port_on_any_node()
    {
        var echo = Assert.Single(Build().Services, s => s.Service == TestMesh.Echo);
        Assert.Equal(IPAddress.Parse("10.96.0.20"), echo.Vip);
        Assert.Equal(80, echo.Port);
        Assert.Null(echo.Waypoint);
        Assert.Equal(["10.244.1.2:8080", "10.244.1.4:8080", "10.244.2.7:9090"], echo.Endpoints.Select(e => e.Authority));
        Assert.All(echo.Endpoints, e => Assert.Equal(15008, e.Connect.Port));
    }

    [Fact]
    public void A_waypoint_VIP_resolves_to_a_ready_waypoint_pod_and_the_authority_stays_the_Service_VIP_port()
    {
        var bound = Assert.Single(Build().Services, s => s.Service == TestMesh.Bound);
        Assert.Equal(new HboneTarget(new IPEndPoint(IPAddress.Parse("10.244.1.9"), 15008), "10.96.0.30:80"), bound.Waypoint);
        Assert.Empty(bound.Endpoints);
    }

    [Fact]
    public void A_waypoint_address_that_is_no_Service_is_dialled_as_given_and_an_unknown_hostname_fails_closed()
    {
        var byIp = Assert.Single(Build(s => WithWaypoint(s, new GatewayAddress { Address = new NetworkAddress { Address = Google.Protobuf.ByteString.CopyFrom([10, 244, 7, 7]) } })).Services, s => s.Service == TestMesh.Bound);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("10.244.7.7"), 15008), byIp.Waypoint!.Connect);

        var byName = Assert.Single(Build(s => WithWaypoint(s, new GatewayAddress { Hostname = new NamespacedHostname { Namespace = "demo", Hostname = "waypoint.demo.svc.cluster.local" }, HboneMtlsPort = 15008 })).Services, s => s.Service == TestMesh.Bound);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("10.244.1.9"), 15008), byName.Waypoint!.Connect);

        var missing = Assert.Single(Build(s => WithWaypoint(s, new GatewayAddress { Hostname = new NamespacedHostname { Namespace = "demo", Hostname = "gone.demo.svc.cluster.local" }, HboneMtlsPort = 15008 })).Services, s => s.Service == TestMesh.Bound);
        Assert.Null(missing.Waypoint);
        Assert.True(missing.WaypointUnresolved);
        Assert.Empty(missing.Endpoints);
    }

    [Fact]
    public void Services_with_neither_a_waypoint_nor_an_enrolled_endpoint_are_left_uncaptured()
    {
        var services = Build().Services.Select(s => s.Service).ToList();
        Assert.DoesNotContain("default/kubernetes.default.svc.cluster.local", services);
        Assert.DoesNotContain(TestMesh.WaypointService, services);
    }

    private static Service WithWaypoint(Service service, GatewayAddress waypoint)
    {
        service.Waypoint = waypoint;
        return service;
    }
}
