using System.Net;
using Waypoint.EndToEnd.Tests.Local;
using Waypoint.Local.Topology;

namespace Waypoint.EndToEnd.Tests.Topology;

public sealed class LocalTopologyLoaderTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("waypoint-topology-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void Deployments_BecomePods_ServicesGetVipsEndpointsAndWaypointBinding()
    {
        var topology = Load(RigYaml.Namespace("demo", waypoint: "waypoint") + RigYaml.Waypoint("waypoint", "demo")
            + RigYaml.EchoService("echo", "demo", replicas: 3) + RigYaml.EchoService("solo", "demo").Replace("name: solo\n  namespace: demo\n", "name: solo\n  namespace: demo\n  labels:\n    istio.io/use-waypoint: none\n", StringComparison.Ordinal));

        Assert.Empty(topology.Errors);
        var echo = topology.FindService("echo", "demo")!;
        Assert.Equal(["echo-0", "echo-1", "echo-2"], echo.Pods.Select(p => p.Name));
        Assert.All(echo.Pods, p => Assert.Equal(AddressAllocator.PodBlock, p.Address.GetAddressBytes()[1]));
        Assert.Equal(AddressAllocator.ServiceBlock, echo.Address.GetAddressBytes()[1]);
        Assert.Equal("waypoint.demo", echo.Waypoint?.Key);
        Assert.Equal(new LocalServicePort("http", 80, 8080, LocalProtocol.Http), Assert.Single(echo.Ports));
        Assert.Null(topology.FindService("solo", "demo")!.Waypoint);
        Assert.Equal("echo", echo.Pods[0].ServiceAccount);

        // What a cluster adds: VIP on the Service, pod IPs, an EndpointSlice, ambient enrolment, the Gateway address.
        Assert.Equal(echo.Address.ToString(), topology.Snapshot.Services.Single(s => s.Metadata.Name == "echo").Spec.ClusterIP);
        var slice = topology.Snapshot.EndpointSlices.Single(s => s.Metadata.Labels["kubernetes.io/service-name"] == "echo");
        Assert.Equal(3, slice.Endpoints.Count);
        Assert.All(topology.Snapshot.Pods, p => Assert.Equal("ambient", p.Metadata.Labels["istio.io/dataplane-mode"]));
        Assert.Equal(topology.Waypoints[0].Address.ToString(), topology.Snapshot.Gateways[0].Status.Addresses![0].Value);
    }

    [Fact]
    public void Addresses_AreStableWhenOtherObjectsChange_AndLoopbackClusterIpIsKept()
    {
        var before = Load(RigYaml.Namespace("demo") + RigYaml.EchoService("a", "demo"));
        var after = Load(RigYaml.Namespace("demo") + RigYaml.EchoService("z", "demo") + RigYaml.EchoService("a", "demo")
            + RigYaml.EchoService("fixed", "demo").Replace("  selector:\n    app: fixed", "  clusterIP: 127.10.9.9\n  selector:\n    app: fixed", StringComparison.Ordinal));
        Assert.Equal(before.FindService("a", "demo")!.Address, after.FindService("a", "demo")!.Address);
        Assert.Equal(before.Pods.Single(p => p.Name == "a-0").Address, after.Pods.Single(p => p.Name == "a-0").Address);
        Assert.Equal(IPAddress.Parse("127.10.9.9"), after.FindService("fixed", "demo")!.Address);
        Assert.Equal(after.Services.Count, after.Services.Select(s => s.Address).Distinct().Count());
    }

    [Fact]
    public void TcpPorts_GetTheTcpEcho_AndNamedTargetPortsResolve()
    {
        var yaml = RigYaml.Namespace("demo") + RigYaml.EchoService("db", "demo", port: 5432, portName: "tcp-db")
            .Replace("targetPort: 8080", "targetPort: db-port", StringComparison.Ordinal);
        yaml = System.Text.RegularExpressions.Regex.Replace(yaml, "^( *)- containerPort: 8080$", "$1- containerPort: 8080\n$1  name: db-port", System.Text.RegularExpressions.RegexOptions.Multiline);
        var topology = Load(yaml);
        var service = topology.FindService("db", "demo")!;
        Assert.Equal(new LocalServicePort("tcp-db", 5432, 8080, LocalProtocol.Tcp), Assert.Single(service.Ports));
        Assert.Equal(LocalProtocol.Tcp, Assert.Single(service.Pods[0].Ports).Protocol);
    }

    [Fact]
    public void InvalidDocument_IsReportedWithItsFile_OthersStillLoad()
    {
        File.WriteAllText(Path.Combine(_directory, "bad.yaml"), "apiVersion: v1\nkind: Service\nmetadata: [oops\n");
        var topology = Load(RigYaml.Namespace("demo") + RigYaml.EchoService("ok", "demo"));
        Assert.Contains(topology.Errors, e => e.Contains("bad.yaml", StringComparison.Ordinal));
        Assert.NotNull(topology.FindService("ok", "demo"));
    }

    [Theory]
    [InlineData("ok", "ok")]
    [InlineData("ok.demo", "ok")]
    [InlineData("ok.demo.svc.cluster.local", "ok")]
    [InlineData("nope.demo.svc.cluster.local", null)]
    public void ResolveHost_AcceptsKubernetesShortForms(string host, string? expected)
    {
        var topology = Load(RigYaml.Namespace("demo") + RigYaml.EchoService("ok", "demo"));
        Assert.Equal(expected, topology.ResolveHost(host, "demo")?.Name);
    }

    private LocalTopology Load(string yaml)
    {
        File.WriteAllText(Path.Combine(_directory, "mesh.yaml"), yaml);
        return LocalTopologyLoader.LoadDirectory(_directory);
    }
}
