using System.Net;
using System.Runtime.Versioning;
using System.Text.Json;
using Grpc.Net.Client;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging.Abstractions;
using Waypoint.Box;
using Waypoint.Box.Apply;
using Waypoint.TestKit.Box;
using Waypoint.Translator;
using Waypoint.Translator.Model;
using Waypoint.Ztunnel.Discovery;
using Xunit.Abstractions;

namespace Waypoint.EndToEnd.Tests.Istiod;

/// <summary>
/// Issue #17: for each waypoint, the services the real istiod binds to it (its workload discovery, read as a ztunnel
/// reads it) and the services our translator builds chains for (its <c>inbound-vip|port|proto|host</c> clusters, from
/// the same objects read back from the API server) must agree, across waypoint-for variants, namespace and Service
/// labels, a cross-namespace waypoint and a ServiceEntry. The test writes the waypoints' <c>status.addresses</c>, as
/// our controller does once a pod is ready (the box runs no waypoint pod here).
/// </summary>
[Collection(IstiodBoxTests.Name)]
[SupportedOSPlatform("linux")]
public sealed class WaypointBindingComparisonTests(SharedBoxFixture box, ITestOutputHelper output) : IClassFixture<SharedBoxFixture>
{
    private const string App = "bind-app";
    private const string Shared = "bind-shared";
    private const string Closed = "bind-closed";

    /// <summary>The address each waypoint gets in its status: istiod names a waypoint by it in WDS.</summary>
    private static readonly Dictionary<string, string> s_addresses = new(StringComparer.Ordinal)
    {
        [$"{App}/wp-service"] = "10.244.200.1",
        [$"{App}/wp-all"] = "10.244.200.2",
        [$"{App}/wp-none"] = "10.244.200.3",
        [$"{App}/wp-workload"] = "10.244.200.4",
        [$"{Shared}/shared"] = "10.244.200.5",
        [$"{Closed}/closed"] = "10.244.200.6",
    };

    [Fact]
    public async Task The_Services_Istiod_Binds_To_Each_Waypoint_Are_Those_Our_Translator_Builds_Chains_For()
    {
        using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var applier = new BoxApplier(box.Connection.CreateAdminHttpClient(), "binding-test");
        var report = await applier.ApplyYamlAsync(Mesh, "binding.yaml", cancel.Token);
        Assert.True(report.Succeeded, string.Join("\n", report.Failures));

        using var admin = box.Connection.CreateKubernetesClient();
        foreach (var (waypoint, address) in s_addresses)
        {
            var (ns, name) = Split(waypoint);
            var status = new V1Patch($$$"""{"status":{"addresses":[{"type":"IPAddress","value":"{{{address}}}"}]}}""", V1Patch.PatchType.MergePatch);
            await admin.CustomObjects.PatchNamespacedCustomObjectStatusAsync(status, "gateway.networking.k8s.io", "v1", ns, "gateways", name, cancellationToken: cancel.Token);
        }

        // istiod's view: every Service and ServiceEntry host of the test's namespaces, and the waypoint it carries.
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{BoxPorts.IstiodGrpc}", new GrpcChannelOptions { HttpHandler = box.Connection.Network.CreateHandler() });
        var discovery = new WorkloadDiscoveryClient(channel, new ZtunnelIdentity("ztunnel-binding", "istio-system", "ztunnel", "node-binding", "10.244.0.2"), NullLogger<WorkloadDiscoveryClient>.Instance);
        var running = discovery.RunAsync(cancel.Token);
        try
        {
            // Our translator's view, from the same objects as the API server holds them (VIPs assigned).
            var translation = new WaypointTranslator().Translate(await SnapshotAsync(box.Connection, cancel.Token));
            Assert.Empty(translation.Errors);
            var ours = Empty();
            foreach (var (key, resources) in translation.Waypoints)
            {
                foreach (var cluster in resources.Clusters.Where(c => c.Name.StartsWith("inbound-vip|", StringComparison.Ordinal)))
                {
                    ours[$"{key.Namespace}/{key.Name}"].Add(cluster.Name.Split('|')[3]);
                }
            }

            // istiod's view, once it has every host and agrees, or at the deadline (then the last view is the verdict).
            var agreed = discovery.WaitForAsync(v => Expected.All(v.Services.ContainsKey) && Agrees(IstiodBindings(v), ours), cancel.Token);
            try
            {
                await agreed.WaitAsync(TimeSpan.FromSeconds(60), cancel.Token);
            }
            catch (TimeoutException)
            {
                // Reported below with the last view.
            }

            var istiod = IstiodBindings(discovery.View);
            foreach (var waypoint in s_addresses.Keys)
            {
                output.WriteLine($"{waypoint}: istiod [{string.Join(", ", istiod[waypoint])}], ours [{string.Join(", ", ours[waypoint])}]");
            }

            foreach (var waypoint in s_addresses.Keys)
            {
                Assert.True(istiod[waypoint].SetEquals(ours[waypoint]), $"{waypoint}: istiod binds [{string.Join(", ", istiod[waypoint])}], our translator chains [{string.Join(", ", ours[waypoint])}]");
            }

            // And the comparison is not vacuous: what the objects ask for is what both did.
            Assert.Equal(
                [$"ext.example.com", $"svc-default.{App}.svc.cluster.local", $"svc-service.{App}.svc.cluster.local"],
                istiod[$"{App}/wp-service"]);
            Assert.Equal([$"svc-all.{App}.svc.cluster.local"], istiod[$"{App}/wp-all"]);
            Assert.Contains($"svc-cross.{App}.svc.cluster.local", istiod[$"{Shared}/shared"]);
        }
        finally
        {
            await cancel.CancelAsync();
            await running;
        }
    }

    private static Dictionary<string, SortedSet<string>> Empty() =>
        s_addresses.Keys.ToDictionary(k => k, _ => new SortedSet<string>(StringComparer.Ordinal), StringComparer.Ordinal);

    private static bool Agrees(Dictionary<string, SortedSet<string>> istiod, Dictionary<string, SortedSet<string>> ours) =>
        s_addresses.Keys.All(w => istiod[w].SetEquals(ours[w]));

    /// <summary>For each waypoint, the hosts of the test's namespaces whose WDS Service names its address.</summary>
    private static Dictionary<string, SortedSet<string>> IstiodBindings(MeshView view)
    {
        var byAddress = s_addresses.ToDictionary(p => p.Value, p => p.Key, StringComparer.Ordinal);
        var bindings = Empty();
        foreach (var (key, service) in view.Services)
        {
            if (key.StartsWith(App + "/", StringComparison.Ordinal) || key.StartsWith(Shared + "/", StringComparison.Ordinal) || key.StartsWith(Closed + "/", StringComparison.Ordinal))
            {
                if (MeshView.WaypointOf(service) is { Address: { } address } && byAddress.TryGetValue(address.ToString(), out var waypoint))
                {
                    bindings[waypoint].Add(service.Hostname);
                }
            }
        }

        return bindings;
    }

    private static IEnumerable<string> Expected =>
    [
        $"{App}/svc-service.{App}.svc.cluster.local",
        $"{App}/svc-all.{App}.svc.cluster.local",
        $"{App}/svc-none.{App}.svc.cluster.local",
        $"{App}/svc-workload.{App}.svc.cluster.local",
        $"{App}/svc-default.{App}.svc.cluster.local",
        $"{App}/svc-optout.{App}.svc.cluster.local",
        $"{App}/svc-cross.{App}.svc.cluster.local",
        $"{App}/svc-closed.{App}.svc.cluster.local",
        $"{App}/ext.example.com",
    ];

    /// <summary>What the controller's informers would hold, read from the API server.</summary>
    private static async Task<ClusterSnapshot> SnapshotAsync(BoxConnection connection, CancellationToken cancellationToken)
    {
        using var http = connection.CreateAdminHttpClient();
        using var admin = connection.CreateKubernetesClient();
        return new ClusterSnapshot
        {
            GatewayClasses = await ListAsync<V1GatewayClass>(http, "/apis/gateway.networking.k8s.io/v1/gatewayclasses", cancellationToken),
            Gateways = await ListAsync<V1Gateway>(http, "/apis/gateway.networking.k8s.io/v1/gateways", cancellationToken),
            ServiceEntries = await ListAsync<V1ServiceEntry>(http, "/apis/networking.istio.io/v1/serviceentries", cancellationToken),
            Services = [.. (await admin.CoreV1.ListServiceForAllNamespacesAsync(cancellationToken: cancellationToken)).Items],
            Namespaces = [.. (await admin.CoreV1.ListNamespaceAsync(cancellationToken: cancellationToken)).Items],
            EndpointSlices = [.. (await admin.DiscoveryV1.ListEndpointSliceForAllNamespacesAsync(cancellationToken: cancellationToken)).Items],
        };
    }

    private static async Task<IReadOnlyList<T>> ListAsync<T>(HttpClient http, string path, CancellationToken cancellationToken)
    {
        using var document = JsonDocument.Parse(await http.GetStringAsync(new Uri(path, UriKind.Relative), cancellationToken));
        return [.. document.RootElement.GetProperty("items").EnumerateArray().Select(item => KubernetesJson.Deserialize<T>(item.GetRawText()))];
    }

    private static (string Namespace, string Name) Split(string key) => (key[..key.IndexOf('/', StringComparison.Ordinal)], key[(key.IndexOf('/', StringComparison.Ordinal) + 1)..]);

    private static string Service(string name, string? useWaypoint, string? waypointNamespace = null)
    {
        var labels = useWaypoint is null ? "{}" : waypointNamespace is null
            ? $"{{istio.io/use-waypoint: {useWaypoint}}}"
            : $"{{istio.io/use-waypoint: {useWaypoint}, istio.io/use-waypoint-namespace: {waypointNamespace}}}";
        return $$"""
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: {{name}}, namespace: {{App}}, labels: {{labels}} }
            spec:
              selector: {app: {{name}}}
              ports:
              - {name: http, port: 80, targetPort: 8080}
            """;
    }

    private static string Waypoint(string ns, string name, string waypointFor, string allowedFrom = "Same") => $$"""
        ---
        apiVersion: gateway.networking.k8s.io/v1
        kind: Gateway
        metadata: {name: {{name}}, namespace: {{ns}}, labels: {istio.io/waypoint-for: {{waypointFor}} } }
        spec:
          gatewayClassName: binding-waypoint
          listeners:
          - name: mesh
            port: 15008
            protocol: HBONE
            allowedRoutes: {namespaces: {from: {{allowedFrom}} } }
        """;

    private static string Mesh => $$"""
        apiVersion: gateway.networking.k8s.io/v1
        kind: GatewayClass
        metadata: {name: binding-waypoint}
        spec: {controllerName: waypoint.dev/controller}
        ---
        apiVersion: v1
        kind: Namespace
        metadata:
          name: {{App}}
          labels: {istio.io/dataplane-mode: ambient, istio.io/use-waypoint: wp-service}
        ---
        apiVersion: v1
        kind: Namespace
        metadata: {name: {{Shared}}, labels: {istio.io/dataplane-mode: ambient} }
        ---
        apiVersion: v1
        kind: Namespace
        metadata: {name: {{Closed}}, labels: {istio.io/dataplane-mode: ambient} }
        """
        + "\n" + Waypoint(App, "wp-service", "service")
        + "\n" + Waypoint(App, "wp-all", "all")
        + "\n" + Waypoint(App, "wp-none", "none")
        + "\n" + Waypoint(App, "wp-workload", "workload")
        + "\n" + Waypoint(Shared, "shared", "service", allowedFrom: "All")
        + "\n" + Waypoint(Closed, "closed", "service")
        + "\n" + Service("svc-service", "wp-service")
        + "\n" + Service("svc-all", "wp-all")
        + "\n" + Service("svc-none", "wp-none")
        + "\n" + Service("svc-workload", "wp-workload")
        + "\n" + Service("svc-default", null)
        + "\n" + Service("svc-optout", "none")
        + "\n" + Service("svc-cross", "shared", Shared)
        + "\n" + Service("svc-closed", "closed", Closed)
        + "\n" + $$"""
        ---
        apiVersion: networking.istio.io/v1
        kind: ServiceEntry
        metadata: {name: ext, namespace: {{App}} }
        spec:
          hosts: [ext.example.com]
          addresses: [240.240.0.1]
          ports:
          - {name: http, number: 80, protocol: HTTP}
          resolution: STATIC
          endpoints:
          - {address: 10.244.201.1}
        """;
}
