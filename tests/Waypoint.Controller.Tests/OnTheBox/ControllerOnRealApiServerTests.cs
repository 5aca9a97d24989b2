using System.Runtime.Versioning;
using System.Text.Json;
using System.Text.Json.Nodes;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Waypoint.Box.Apply;
using Waypoint.Controller.Client;
using Waypoint.Controller.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Waypoint.Controller.Tests.OnTheBox;

/// <summary>
/// The controller against a real API server, authenticated as its ServiceAccount with the shipped RBAC: what the fake
/// API server cannot show (schema and CEL validation of our status writes, defaulting, RBAC, garbage collection by
/// owner references, server-side apply and drift repair).
/// </summary>
[Collection(OnTheBoxTests.Name)]
[SupportedOSPlatform("linux")]
public sealed class ControllerOnRealApiServerTests(InstalledBoxFixture box, ITestOutputHelper output) : IClassFixture<InstalledBoxFixture>
{
    private const string Gateway = "gateway.networking.k8s.io";
    private static readonly TimeSpan s_limit = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task With_The_Shipped_Role_The_Controller_Deploys_A_Waypoint_And_Writes_Statuses_The_Schemas_Accept()
    {
        const string ns = "box-status";
        await using var controller = await StartControllerAsync();
        await ApplyAsync(ns, Mesh(ns));

        var deployment = await Eventually.ValueAsync(() => TryAsync(() => box.Admin.AppsV1.ReadNamespacedDeploymentAsync("waypoint", ns)), "the waypoint Deployment", s_limit);
        Assert.Equal("waypoint", deployment.Spec.Template.Spec.ServiceAccountName);
        var service = await Eventually.ValueAsync(() => TryAsync(() => box.Admin.CoreV1.ReadNamespacedServiceAsync("waypoint", ns)), "the waypoint Service", s_limit);
        await Eventually.ValueAsync(() => TryAsync(() => box.Admin.CoreV1.ReadNamespacedServiceAccountAsync("waypoint", ns)), "the waypoint ServiceAccount", s_limit);

        // Defaulting by the real API server: the pod template got its defaults, the Service a ClusterIP from the range.
        Assert.Equal("ClusterFirst", deployment.Spec.Template.Spec.DnsPolicy);
        Assert.StartsWith("10.96.", service.Spec.ClusterIP, StringComparison.Ordinal);

        await Eventually.ValueAsync(async () => await GetAsync(Gateway, "v1", ns, "gateways", "waypoint") is { } gateway && Condition(gateway, "Accepted") == "True" ? gateway : null, "Gateway Accepted=True", s_limit);
        var route = await Eventually.ValueAsync(async () =>
        {
            var parents = (await GetAsync(Gateway, "v1", ns, "httproutes", "echo"))?["status"]?["parents"] as JsonArray;
            return parents?.FirstOrDefault(p => p?["controllerName"]?.GetValue<string>() == ControllerHarness.ControllerName) as JsonObject;
        }, "the HTTPRoute's parent status", s_limit);
        Assert.Equal("True", Condition(route, "Accepted", inStatus: false));

        var policy = await Eventually.ValueAsync(async () =>
        {
            var ancestors = (await GetAsync("gateway.kgateway.dev", "v1alpha1", ns, "trafficpolicies", "retry"))?["status"]?["ancestors"] as JsonArray;
            return ancestors?.FirstOrDefault(a => a?["controllerName"]?.GetValue<string>() == ControllerHarness.ControllerName) as JsonObject;
        }, "the TrafficPolicy's ancestor status", s_limit);
        Assert.Equal("True", Condition(policy, "Accepted", inStatus: false));

        // Nothing the controller tried was refused: the shipped role is enough.
        Assert.DoesNotContain(controller.Logs.Entries, e => e.Message.Contains("Forbidden", StringComparison.OrdinalIgnoreCase) || e.Message.Contains(" 403", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Deleting_A_Gateway_Garbage_Collects_Its_Workload_By_Owner_References()
    {
        const string ns = "box-gc";
        await using var controller = await StartControllerAsync();
        await ApplyAsync(ns, Mesh(ns));
        await Eventually.ValueAsync(() => TryAsync(() => box.Admin.AppsV1.ReadNamespacedDeploymentAsync("waypoint", ns)), "the waypoint Deployment", s_limit);

        await box.Admin.CustomObjects.DeleteNamespacedCustomObjectAsync(Gateway, "v1", ns, "gateways", "waypoint");

        await Eventually.ValueAsync(async () =>
            await TryAsync(() => box.Admin.AppsV1.ReadNamespacedDeploymentAsync("waypoint", ns)) is null
            && await TryAsync(() => box.Admin.CoreV1.ReadNamespacedServiceAsync("waypoint", ns)) is null
            && await TryAsync(() => box.Admin.CoreV1.ReadNamespacedServiceAccountAsync("waypoint", ns)) is null ? "gone" : null,
            "the Deployment, Service and ServiceAccount to be garbage collected", s_limit);
    }

    [Fact]
    public async Task An_Edit_Of_The_Waypoint_Deployment_Is_Reverted()
    {
        const string ns = "box-drift";
        await using var controller = await StartControllerAsync();
        await ApplyAsync(ns, Mesh(ns));
        var deployment = await Eventually.ValueAsync(() => TryAsync(() => box.Admin.AppsV1.ReadNamespacedDeploymentAsync("waypoint", ns)), "the waypoint Deployment", s_limit);
        var image = deployment.Spec.Template.Spec.Containers[0].Image;

        // What `kubectl edit` does: an update by another field manager.
        var patch = new JsonObject
        {
            ["spec"] = new JsonObject { ["template"] = new JsonObject { ["spec"] = new JsonObject { ["containers"] = new JsonArray(new JsonObject { ["name"] = deployment.Spec.Template.Spec.Containers[0].Name, ["image"] = "example.com/edited:1" }) } } },
        }.ToJsonString();
        await box.Admin.AppsV1.PatchNamespacedDeploymentAsync(new V1Patch(patch, V1Patch.PatchType.StrategicMergePatch), "waypoint", ns, fieldManager: "kubectl-edit");

        await Eventually.ValueAsync(async () =>
        {
            var current = await TryAsync(() => box.Admin.AppsV1.ReadNamespacedDeploymentAsync("waypoint", ns));
            return current?.Spec.Template.Spec.Containers[0].Image == image ? current : null;
        }, $"the Deployment's image to be restored to {image}", s_limit);
    }

    [Fact]
    public async Task The_Informer_Lists_In_Pages_And_Caches_Objects_Without_Their_Managed_Fields()
    {
        const string ns = "box-pages";
        await ApplyAsync(ns, $"apiVersion: v1\nkind: Namespace\nmetadata: {{ name: {ns} }}\n---\n" + string.Join("---\n", Enumerable.Range(0, 5).Select(i => $$"""
            apiVersion: v1
            kind: Service
            metadata: { name: svc-{{i}}, namespace: {{ns}} }
            spec: { ports: [{ name: http, port: 80 }] }

            """)));
        var live = await box.Admin.CoreV1.ReadNamespacedServiceAsync("svc-0", ns);
        Assert.NotEmpty(live.Metadata.ManagedFields);

        // Pages of 2: the real API server answers with continue tokens three times over five Services.
        using var logs = new XunitLoggerProvider(output);
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Debug));
        using var client = new KubernetesApiClient(box.ControllerConfiguration());
        var informer = new ResourceInformer<V1Service>(client, ResourceKind.Services, new InformerOptions { Namespace = ns, ListPageSize = 2 }, loggerFactory.CreateLogger("informer"), TimeProvider.System);
        using var stop = new CancellationTokenSource();
        var run = Task.Run(() => informer.RunAsync(stop.Token));
        await informer.WaitForSyncAsync(CancellationToken.None).WaitAsync(s_limit);

        Assert.Equal(Enumerable.Range(0, 5).Select(i => $"svc-{i}"), informer.Items.Select(s => s.Metadata.Name).Order());
        Assert.All(informer.Items, s => Assert.Null(s.Metadata.ManagedFields));

        // The watch resumes from the paged list's resourceVersion: a later change arrives, and nothing was missed.
        await box.Admin.CoreV1.DeleteNamespacedServiceAsync("svc-3", ns);
        await Eventually.TrueAsync(() => informer.Count == 4 && !informer.TryGet(new NamespacedName(ns, "svc-3"), out _), "the delete of svc-3 seen by the watch", s_limit);
        await stop.CancelAsync();
        await run.WaitAsync(s_limit);
    }

    private async Task<BoxController> StartControllerAsync()
    {
        var logs = new XunitLoggerProvider(output);
        var loggerFactory = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Debug));
        var client = new KubernetesApiClient(box.ControllerConfiguration());
        var options = new WaypointControllerOptions
        {
            Namespace = InstalledBoxFixture.ControllerNamespace,
            ControllerName = ControllerHarness.ControllerName,
            Debounce = TimeSpan.FromMilliseconds(20),
            MaxDebounce = TimeSpan.FromMilliseconds(200),
            LeaderElection = new LeaderElectionOptions { Identity = "box-test" },
        };
        var controller = new WaypointController(client, Options.Create(options), new RecordingPublisher(), TimeProvider.System, loggerFactory);
        await controller.StartAsync(CancellationToken.None);
        await controller.Started.WaitAsync(s_limit);
        return new BoxController(controller, client, loggerFactory, logs);
    }

    private async Task ApplyAsync(string ns, string yaml)
    {
        var applier = new BoxApplier(box.Connection.CreateAdminHttpClient(), "box-test-user", ns);
        var report = await applier.ApplyYamlAsync(yaml, ns + ".yaml", CancellationToken.None);
        Assert.True(report.Succeeded, string.Join("\n", report.Failures));
    }

    private async Task<JsonObject?> GetAsync(string group, string version, string ns, string plural, string name)
    {
        var found = await TryAsync(() => box.Admin.CustomObjects.GetNamespacedCustomObjectAsync(group, version, ns, plural, name));
        return found is null ? null : JsonNode.Parse(JsonSerializer.Serialize(found))?.AsObject();
    }

    private static string? Condition(JsonObject? obj, string type, bool inStatus = true)
    {
        var conditions = (inStatus ? obj?["status"]?["conditions"] : obj?["conditions"]) as JsonArray;
        return conditions?.FirstOrDefault(c => c?["type"]?.GetValue<string>() == type)?["status"]?.GetValue<string>();
    }

    private static async Task<T?> TryAsync<T>(Func<Task<T>> read)
        where T : class
    {
        try
        {
            return await read();
        }
        catch (HttpOperationException ex) when (ex.Response.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    private static string Mesh(string ns) => $$"""
        apiVersion: v1
        kind: Namespace
        metadata:
          name: {{ns}}
          labels: {istio.io/dataplane-mode: ambient, istio.io/use-waypoint: waypoint}
        ---
        apiVersion: gateway.networking.k8s.io/v1
        kind: Gateway
        metadata: {name: waypoint, namespace: {{ns}}, labels: {istio.io/waypoint-for: service} }
        spec:
          gatewayClassName: kgateway-waypoint
          listeners:
          - {name: mesh, port: 15008, protocol: HBONE}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: echo, namespace: {{ns}} }
        spec:
          selector: {app: echo}
          ports:
          - {name: http, port: 80, targetPort: 8080}
        ---
        apiVersion: gateway.networking.k8s.io/v1
        kind: HTTPRoute
        metadata: {name: echo, namespace: {{ns}} }
        spec:
          parentRefs:
          - {group: "", kind: Service, name: echo, port: 80}
          rules:
          - backendRefs:
            - {name: echo, port: 80}
        ---
        apiVersion: gateway.kgateway.dev/v1alpha1
        kind: TrafficPolicy
        metadata: {name: retry, namespace: {{ns}} }
        spec:
          targetRefs:
          - {group: gateway.networking.k8s.io, kind: HTTPRoute, name: echo}
          retry: {attempts: 2, retryOn: [5xx]}
        """;

    private sealed class BoxController(WaypointController controller, KubernetesApiClient client, ILoggerFactory loggerFactory, XunitLoggerProvider logs) : IAsyncDisposable
    {
        public XunitLoggerProvider Logs => logs;

        public async ValueTask DisposeAsync()
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await controller.StopAsync(timeout.Token);
            controller.Dispose();
            client.Dispose();
            loggerFactory.Dispose();
        }
    }
}
