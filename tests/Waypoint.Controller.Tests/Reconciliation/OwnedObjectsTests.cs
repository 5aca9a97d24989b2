using System.Text.Json.Nodes;
using Waypoint.Controller.Tests.Infrastructure;
using Waypoint.TestKit.Kubernetes;
using Xunit.Abstractions;

namespace Waypoint.Controller.Tests.Reconciliation;

/// <summary>A waypoint's ServiceAccount, ConfigMap, Deployment and Service: server-side applied, watched, repaired.</summary>
public sealed class OwnedObjectsTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly FakeResourceType[] OwnedKinds = [FakeResourceType.ServiceAccounts, FakeResourceType.ConfigMaps, FakeResourceType.Deployments, FakeResourceType.Services];
    private ControllerHarness _h = null!;
    private ControllerHarness.Replica _replica = null!;

    public async Task InitializeAsync()
    {
        _h = await ControllerHarness.StartAsync(output);
        _h.Create(FakeResourceType.Namespaces, Objects.Namespace("apps", """{"istio.io/use-waypoint":"waypoint"}"""));
        _h.Create(FakeResourceType.GatewayClasses, Objects.GatewayClass());
        _replica = await _h.StartReplicaAsync();
        _h.Create(FakeResourceType.Gateways, Objects.Gateway("waypoint"));
        await Eventually.TrueAsync(() => OwnedKinds.All(k => _h.Get(k, "apps", k == FakeResourceType.ConfigMaps ? "waypoint-bootstrap" : "waypoint") is not null), "owned objects applied");
    }

    public async Task DisposeAsync() => await _h.DisposeAsync();

    [Fact]
    public void Objects_Are_Applied_By_The_Controller_Field_Manager()
    {
        foreach (var kind in OwnedKinds)
        {
            var obj = _h.Get(kind, "apps", kind == FakeResourceType.ConfigMaps ? "waypoint-bootstrap" : "waypoint")!;
            var managers = obj["metadata"]!["managedFields"]!.AsArray();
            Assert.Contains(managers, m => m!["manager"]!.GetValue<string>() == "waypoint-controller" && m["operation"]!.GetValue<string>() == "Apply");
        }

        Assert.Equal(0, _h.Server.Requests.Count(r => r.Method is "POST" or "PUT" && r.Plural is "deployments" or "services" or "serviceaccounts" or "configmaps"));
    }

    [Fact]
    public async Task A_Kubectl_Edit_Of_The_Deployment_Is_Reverted()
    {
        _h.Store.Patch(FakeResourceType.Deployments, "apps", "waypoint", JsonNode.Parse("""
            {"spec":{"replicas":5,"template":{"spec":{"terminationGracePeriodSeconds":1}}}}
            """)!, status: false, fieldManager: "kubectl-edit");
        Assert.Equal(5, _h.Get(FakeResourceType.Deployments, "apps", "waypoint")!["spec"]!["replicas"]!.GetValue<int>());

        await Eventually.TrueAsync(() => _h.Get(FakeResourceType.Deployments, "apps", "waypoint")!["spec"]!["replicas"]!.GetValue<int>() == 1, "replicas reverted");
        var deployment = _h.Get(FakeResourceType.Deployments, "apps", "waypoint")!;
        Assert.NotEqual(1, deployment["spec"]!["template"]!["spec"]!["terminationGracePeriodSeconds"]!.GetValue<int>());
        Assert.DoesNotContain(deployment["metadata"]!["managedFields"]!.AsArray(), m => m!["manager"]!.GetValue<string>() == "kubectl-edit");
    }

    [Fact]
    public async Task Fields_Another_Manager_Sets_Stay_And_Fields_We_Stop_Setting_Go()
    {
        // kubectl rollout restart stamps the pod template; the controller must not undo a restart.
        _h.Store.Patch(FakeResourceType.Deployments, "apps", "waypoint", JsonNode.Parse("""
            {"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"2026-12-01T22:00:00Z"}}}}}
            """)!, status: false, fieldManager: "kubectl-rollout");

        // The Gateway asks for an extra label, then no longer does: the label must disappear from the objects.
        _h.Patch(FakeResourceType.Gateways, "apps", "waypoint", """{"spec":{"infrastructure":{"labels":{"team":"payments"}}}}""");
        await Eventually.TrueAsync(() => TemplateLabel("team") == "payments", "label applied");
        _h.Patch(FakeResourceType.Gateways, "apps", "waypoint", """{"spec":{"infrastructure":null}}""");
        // Each owned object is applied on its own: wait for the last of them, the Service, too.
        await Eventually.TrueAsync(
            () => TemplateLabel("team") is null && _h.Get(FakeResourceType.Services, "apps", "waypoint")!["metadata"]!["labels"]!["team"] is null,
            "label removed");

        var deployment = _h.Get(FakeResourceType.Deployments, "apps", "waypoint")!;
        Assert.Null(deployment["metadata"]!["labels"]!["team"]);
        Assert.Null(_h.Get(FakeResourceType.Services, "apps", "waypoint")!["metadata"]!["labels"]!["team"]);
        Assert.Equal("2026-12-01T22:00:00Z", deployment["spec"]!["template"]!["metadata"]!["annotations"]!["kubectl.kubernetes.io/restartedAt"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_Deleted_Deployment_Is_Recreated()
    {
        var uid = _h.Get(FakeResourceType.Deployments, "apps", "waypoint")!["metadata"]!["uid"]!.GetValue<string>();
        _h.Delete(FakeResourceType.Deployments, "apps", "waypoint");
        await Eventually.TrueAsync(() => _h.Get(FakeResourceType.Deployments, "apps", "waypoint") is { } d && d["metadata"]!["uid"]!.GetValue<string>() != uid, "recreated");
    }

    [Fact]
    public async Task Route_Events_Read_Owned_Objects_From_The_Cache()
    {
        _h.Create(FakeResourceType.Services, Objects.Service("echo"));
        await Eventually.TrueAsync(() => _replica.Controller.State.Deployments.Count == 1 && _replica.Controller.State.ServiceAccounts.Count == 1 && _replica.Controller.State.ConfigMaps.Count == 1, "owned objects cached");
        _h.Server.ClearRequestLog();
        for (var i = 0; i < 5; i++)
        {
            _h.Create(FakeResourceType.HttpRoutes, Objects.HttpRoute($"route-{i}", "echo", "echo"));
        }

        await Eventually.TrueAsync(() => Enumerable.Range(0, 5).All(i => _h.Get(FakeResourceType.HttpRoutes, "apps", $"route-{i}")?["status"] is not null), "route statuses written");
        Assert.Equal(0, _h.Server.Requests.Count(r => r.Method == "GET" && !r.Watch && r.Plural is "deployments" or "services" or "serviceaccounts" or "configmaps"));
        Assert.Equal(0, _h.Server.Requests.Count(r => r.Method == "PATCH" && r.Plural is "deployments" or "services" or "serviceaccounts" or "configmaps"));
    }

    [Fact]
    public async Task A_Name_Taken_By_Someone_Else_Is_Not_Taken_Over()
    {
        _h.Create(FakeResourceType.ServiceAccounts, """{"metadata":{"name":"other","namespace":"apps","labels":{"app":"someone-else"}}}""");
        _h.Create(FakeResourceType.Gateways, Objects.Gateway("other"));
        await Eventually.TrueAsync(() => ControllerHarness.Condition(_h.Get(FakeResourceType.Gateways, "apps", "other"), "Programmed", "reason") == "Invalid", "reported");
        var serviceAccount = _h.Get(FakeResourceType.ServiceAccounts, "apps", "other")!;
        Assert.Null(serviceAccount["metadata"]!["ownerReferences"]);
        Assert.DoesNotContain(serviceAccount["metadata"]!["managedFields"]!.AsArray(), m => m!["manager"]!.GetValue<string>() == "waypoint-controller");
    }

    private string? TemplateLabel(string key) =>
        _h.Get(FakeResourceType.Deployments, "apps", "waypoint")?["spec"]?["template"]?["metadata"]?["labels"]?[key]?.GetValue<string>();
}
