using System.Net;
using System.Text.Json.Nodes;
using Grpc.Net.Client;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging.Abstractions;
using Waypoint.Box;
using Waypoint.Controller.Tests.Infrastructure;
using Waypoint.Ztunnel.Discovery;

namespace Waypoint.Controller.Tests.OnTheBox;

/// <summary>
/// Issue #17: the controller writes <c>status.addresses</c> only once a waypoint pod is ready, so the real istiod
/// binds nothing to a waypoint that cannot serve; once a pod is ready the addresses appear and istiod's binding
/// (its workload discovery, read as a ztunnel reads it) follows.
/// </summary>
public sealed partial class ProductOnTheBoxTests
{
    [Fact]
    public async Task A_Waypoint_Whose_Pod_Cannot_Become_Ready_Has_No_Address_And_Istiod_Binds_Nothing_Until_It_Is_Ready()
    {
        const string ns = "product-unready";
        const string echo = ns + "/echo." + ns + ".svc.cluster.local";
        await ApplyAsync(ns, $$"""
            apiVersion: v1
            kind: Namespace
            metadata:
              name: {{ns}}
              labels: {istio.io/dataplane-mode: ambient}
            ---
            apiVersion: gateway.kgateway.dev/v1alpha1
            kind: WaypointParameters
            metadata: {name: unpullable, namespace: {{ns}} }
            spec:
              envoy: {image: registry.invalid/no-such-envoy:1}
            ---
            apiVersion: gateway.networking.k8s.io/v1
            kind: Gateway
            metadata: {name: waypoint, namespace: {{ns}}, labels: {istio.io/waypoint-for: service} }
            spec:
              gatewayClassName: kgateway-waypoint
              infrastructure:
                parametersRef: {group: gateway.kgateway.dev, kind: WaypointParameters, name: unpullable}
              listeners:
              - {name: mesh, port: 15008, protocol: HBONE}
            ---
            apiVersion: v1
            kind: Service
            metadata:
              name: echo
              namespace: {{ns}}
              labels: {istio.io/use-waypoint: waypoint}
            spec:
              selector: {app: echo}
              ports:
              - {name: http, port: 80, targetPort: 8080}
            """);

        // The controller deployed the waypoint, and its pod cannot start: the node cannot pull that image.
        var pod = await Eventually.ValueAsync(async () =>
            (await box.Admin.CoreV1.ListNamespacedPodAsync(ns, labelSelector: "gateway.networking.k8s.io/gateway-name=waypoint")).Items
                .FirstOrDefault(p => p.Status?.ContainerStatuses?.Any(c => c.State?.Waiting?.Reason is "ErrImagePull" or "ImagePullBackOff") == true),
            "a waypoint pod failing to pull its image", s_limit);
        Assert.False(IsReady(pod));
        var waiting = pod.Status.ContainerStatuses.First(c => c.State?.Waiting is not null).State.Waiting;
        output.WriteLine($"pod {pod.Metadata.Name}: {waiting.Reason}: {waiting.Message}");

        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{BoxPorts.IstiodGrpc}", new GrpcChannelOptions { HttpHandler = box.Connection.Network.CreateHandler() });
        var discovery = new WorkloadDiscoveryClient(channel, new ZtunnelIdentity("ztunnel-test", "istio-system", "ztunnel", "node-test", "10.244.0.2"), NullLogger<WorkloadDiscoveryClient>.Instance);
        using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        var running = discovery.RunAsync(cancel.Token);
        try
        {
            // The Gateway has no address and says why; istiod knows the Service and binds it to no waypoint.
            var gateway = await Eventually.ValueAsync(async () => await GetGatewayAsync(ns, "waypoint") is { } g && Reason(g, "Programmed") == "Pending" ? g : null,
                "Gateway Programmed=False (Pending)", s_limit);
            Assert.True(gateway["status"]?["addresses"] is null or JsonArray { Count: 0 }, $"addresses written for a waypoint without a ready pod: {gateway["status"]?["addresses"]}");
            var unbound = await discovery.WaitForAsync(v => v.Services.ContainsKey(echo), cancel.Token).WaitAsync(s_limit, cancel.Token);
            Assert.Null(MeshView.WaypointOf(unbound.Services[echo]));
            Assert.Equal("Pending", Reason(gateway, "Programmed"));

            // The pod can become ready once the image is one the node has: addresses appear and istiod binds the Service.
            var patch = new V1Patch("""{"spec":{"envoy":null}}""", V1Patch.PatchType.MergePatch);
            await box.Admin.CustomObjects.PatchNamespacedCustomObjectAsync(patch, "gateway.kgateway.dev", "v1alpha1", ns, "waypointparameters", "unpullable");
            await WaitForDeploymentPodsAsync(ns, "waypoint", "gateway.networking.k8s.io/gateway-name=waypoint", replicas: 1);
            var service = await box.Admin.CoreV1.ReadNamespacedServiceAsync("waypoint", ns);
            var programmed = await Eventually.ValueAsync(async () => await GetGatewayAsync(ns, "waypoint") is { } g && Condition(g, "Programmed") == "True" ? g : null,
                "Gateway Programmed=True", s_limit);
            Assert.Contains(programmed["status"]!["addresses"]!.AsArray(), a => a!["value"]!.GetValue<string>() == service.Spec.ClusterIP);
            var bound = await discovery.WaitForAsync(v => v.Services.TryGetValue(echo, out var s) && MeshView.WaypointOf(s) is not null, cancel.Token).WaitAsync(s_limit, cancel.Token);
            var waypoint = MeshView.WaypointOf(bound.Services[echo])!;
            output.WriteLine($"istiod bound {echo} to {waypoint}");
            Assert.Equal(15008, waypoint.HbonePort);
            Assert.True(
                Equals(waypoint.Address, IPAddress.Parse(service.Spec.ClusterIP)) || waypoint.Hostname == $"waypoint.{ns}.svc.cluster.local",
                $"istiod bound the Service to {waypoint}, not to the waypoint Service {service.Spec.ClusterIP}");
        }
        finally
        {
            await cancel.CancelAsync();
            await running;
        }
    }

    private static string? Reason(JsonObject obj, string type) =>
        (obj["status"]?["conditions"] as JsonArray)?.FirstOrDefault(c => c?["type"]?.GetValue<string>() == type)?["reason"]?.GetValue<string>();
}
