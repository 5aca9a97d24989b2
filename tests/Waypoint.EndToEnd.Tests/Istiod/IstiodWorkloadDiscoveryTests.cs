using System.Net;
using System.Runtime.Versioning;
using Grpc.Net.Client;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging.Abstractions;
using Waypoint.Box;
using Waypoint.Box.Apply;
using Waypoint.Ztunnel.Discovery;
using Waypoint.TestKit.Box;

namespace Waypoint.EndToEnd.Tests.Istiod;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class IstiodBoxTests
{
    public const string Name = "Istiod box";
}

/// <summary>
/// Our workload-discovery subscriber (our own workload.proto) against the real istiod in the box, as a ztunnel
/// subscribes: istiod's view of a third-party waypoint, and of a Service's label changes, arrives as we decode it.
/// </summary>
[Collection(IstiodBoxTests.Name)]
[SupportedOSPlatform("linux")]
public sealed class IstiodWorkloadDiscoveryTests(SharedBoxFixture box) : IClassFixture<SharedBoxFixture>
{
    private const string Ns = "wds";
    private static readonly TimeSpan s_limit = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_Service_Using_Our_Waypoint_Carries_The_Address_Istiod_Binds_And_Follows_The_Label()
    {
        using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var applier = new BoxApplier(box.Connection.CreateAdminHttpClient(), "wds-test", Ns);
        var report = await applier.ApplyYamlAsync(Mesh, "wds.yaml", cancel.Token);
        Assert.True(report.Succeeded, string.Join("\n", report.Failures));

        // Our controller writes status.addresses once a waypoint pod is ready; here the test plays it.
        using var admin = box.Connection.CreateKubernetesClient();
        var status = new V1Patch("""{"status":{"addresses":[{"type":"IPAddress","value":"10.244.7.7"}]}}""", V1Patch.PatchType.MergePatch);
        await admin.CustomObjects.PatchNamespacedCustomObjectStatusAsync(status, "gateway.networking.k8s.io", "v1", Ns, "gateways", "waypoint", cancellationToken: cancel.Token);

        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{BoxPorts.IstiodGrpc}", new GrpcChannelOptions { HttpHandler = box.Connection.Network.CreateHandler() });
        var client = new WorkloadDiscoveryClient(channel, new ZtunnelIdentity("ztunnel-test", "istio-system", "ztunnel", "node-1", "10.244.0.2"), NullLogger<WorkloadDiscoveryClient>.Instance);
        var running = client.RunAsync(cancel.Token);

        const string echo = Ns + "/echo." + Ns + ".svc.cluster.local";
        var bound = await client.WaitForAsync(v => v.Services.TryGetValue(echo, out var s) && MeshView.WaypointOf(s) is not null, cancel.Token);
        var service = bound.Services[echo];
        Assert.Equal("echo", service.Name);
        var vip = Assert.Single(service.Addresses);
        Assert.StartsWith("10.96.", MeshView.ToAddress(vip.Address)!.ToString(), StringComparison.Ordinal);
        Assert.Equal(80u, Assert.Single(service.Ports).ServicePort);
        Assert.Equal(new WaypointAddress(IPAddress.Parse("10.244.7.7"), null, null, 15008), MeshView.WaypointOf(service));
        Assert.Same(service, bound.ServiceAt(MeshView.ToAddress(vip.Address)!, 80));

        // `none` opts the Service out: istiod drops the waypoint and the view follows.
        await applier.ApplyYamlAsync(EchoService("none"), "echo.yaml", cancel.Token);
        await client.WaitForAsync(v => v.Services.TryGetValue(echo, out var s) && MeshView.WaypointOf(s) is null, cancel.Token);

        await cancel.CancelAsync();
        await running;
    }

    private static string EchoService(string useWaypoint) => $$"""
        apiVersion: v1
        kind: Service
        metadata:
          name: echo
          namespace: {{Ns}}
          labels: {istio.io/use-waypoint: {{useWaypoint}} }
        spec:
          selector: {app: echo}
          ports:
          - {name: http, port: 80, targetPort: 8080}
        """;

    private static string Mesh => $$"""
        apiVersion: v1
        kind: Namespace
        metadata:
          name: {{Ns}}
          labels: {istio.io/dataplane-mode: ambient}
        ---
        apiVersion: gateway.networking.k8s.io/v1
        kind: GatewayClass
        metadata: {name: wds-waypoint}
        spec: {controllerName: waypoint.dev/controller}
        ---
        apiVersion: gateway.networking.k8s.io/v1
        kind: Gateway
        metadata:
          name: waypoint
          namespace: {{Ns}}
          labels: {istio.io/waypoint-for: service}
        spec:
          gatewayClassName: wds-waypoint
          listeners:
          - {name: mesh, port: 15008, protocol: HBONE}
        ---
        """ + "\n" + EchoService("waypoint");
}
