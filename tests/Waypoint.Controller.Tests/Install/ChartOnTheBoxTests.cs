using System.Runtime.Versioning;
using k8s;
using Waypoint.Controller.Tests.OnTheBox;
using Waypoint.TestKit.Box;
using Waypoint.TestKit.Envoy;

namespace Waypoint.Controller.Tests.Install;

/// <summary>A box without istiod and nothing of ours installed but the CRDs every box has: the chart goes in as a user puts it in.</summary>
[SupportedOSPlatform("linux")]
public sealed class BareBoxFixture : SharedBoxFixture
{
    protected override string[] Arguments => ["--no-istiod"];
}

/// <summary>The Helm chart, rendered and installed by the real helm, against a real API server (the box).</summary>
[Collection(OnTheBoxTests.Name)]
[SupportedOSPlatform("linux")]
public sealed class ChartOnTheBoxTests(BareBoxFixture box) : IClassFixture<BareBoxFixture>
{
    private static readonly string Chart = Path.Combine(
        EnvoyBinary.FindRepositoryRoot() ?? throw new InvalidOperationException("repository root not found"), "manifests", "charts", "waypoint");

    [Fact]
    public async Task Helm_Template_Passes_A_Server_Side_Dry_Run()
    {
        const string ns = "waypoint-dry-run";
        // A dry run creates nothing: the namespace, and the chart's CRDs (before a dry run of their objects), for real.
        var created = await BoxTools.KubectlAsync(box.Connection.State, null, "create", "namespace", ns);
        Assert.True(created.Succeeded, created.ToString());
        var crds = await BoxTools.KubectlAsync(box.Connection.State, null, "apply", "--server-side", "--field-manager=chart-crds", "-f", Path.Combine(Chart, "crds"));
        Assert.True(crds.Succeeded, crds.ToString());

        var template = await BoxTools.HelmAsync(null, "template", "waypoint", Chart, "--namespace", ns);
        Assert.True(template.Succeeded, template.ToString());
        // --force-conflicts: the install test may already own the cluster-scoped objects (ClusterRole, GatewayClass) in this box.
        var dryRun = await BoxTools.KubectlAsync(box.Connection.State, template.StandardOutput, "apply", "--server-side", "--dry-run=server", "--force-conflicts", "-f", "-");

        Assert.True(dryRun.Succeeded, dryRun.ToString());
        foreach (var applied in (string[])[
            "serviceaccount/waypoint-controller", "clusterrole.rbac.authorization.k8s.io/waypoint-controller",
            "clusterrolebinding.rbac.authorization.k8s.io/waypoint-controller", "role.rbac.authorization.k8s.io/waypoint-controller-leader-election",
            "rolebinding.rbac.authorization.k8s.io/waypoint-controller-leader-election", "service/waypoint-xds",
            "deployment.apps/waypoint-controller", "gatewayclass.gateway.networking.k8s.io/kgateway-waypoint"])
        {
            Assert.Contains($"{applied} serverside-applied (server dry run)", dryRun.StandardOutput, StringComparison.Ordinal);
        }

        using var client = box.Connection.CreateKubernetesClient();
        var accounts = await client.CoreV1.ListNamespacedServiceAccountAsync(ns);
        Assert.DoesNotContain(accounts.Items, a => a.Metadata.Name == "waypoint-controller");
    }

    [Fact]
    public async Task Helm_Install_Creates_The_Controllers_Account_Role_And_GatewayClass()
    {
        const string ns = "waypoint-system";
        // Nothing waits for the controller's pods: the box has no node for them; the objects are what is checked.
        var install = await BoxTools.HelmAsync(box.Connection.State, "install", "waypoint", Chart, "--namespace", ns, "--create-namespace", "--wait=hookOnly");
        Assert.True(install.Succeeded, install.ToString());
        Assert.Contains("STATUS: deployed", install.StandardOutput, StringComparison.Ordinal);

        using var client = box.Connection.CreateKubernetesClient();
        var account = await client.CoreV1.ReadNamespacedServiceAccountAsync("waypoint-controller", ns);
        Assert.Equal("Helm", account.Metadata.Labels["app.kubernetes.io/managed-by"]);
        var role = await client.RbacAuthorizationV1.ReadClusterRoleAsync("waypoint-controller");
        Assert.Contains(role.Rules, r => r.ApiGroups.Contains("gateway.networking.k8s.io") && r.Resources.Contains("gatewayclasses/status"));
        var binding = await client.RbacAuthorizationV1.ReadClusterRoleBindingAsync("waypoint-controller");
        Assert.Equal(ns, Assert.Single(binding.Subjects).NamespaceProperty);
        var gatewayClass = await client.CustomObjects.GetClusterCustomObjectAsync("gateway.networking.k8s.io", "v1", "gatewayclasses", "kgateway-waypoint");
        Assert.Contains("\"controllerName\":\"waypoint.dev/controller\"", System.Text.Json.JsonSerializer.Serialize(gatewayClass), StringComparison.Ordinal);
        var deployment = await client.AppsV1.ReadNamespacedDeploymentAsync("waypoint-controller", ns);
        Assert.Equal(2, deployment.Spec.Replicas);

        var status = await BoxTools.HelmAsync(box.Connection.State, "status", "waypoint", "--namespace", ns);
        Assert.True(status.Succeeded, status.ToString());
        Assert.Contains("STATUS: deployed", status.StandardOutput, StringComparison.Ordinal);
    }
}
