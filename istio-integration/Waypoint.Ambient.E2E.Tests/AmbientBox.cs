using System.Runtime.Versioning;
using k8s;
using k8s.Autorest;
using Waypoint.Box.Apply;
using Waypoint.Box.Assets;
using Waypoint.Box.Product;
using Waypoint.TestKit.Box;

namespace Waypoint.Ambient.E2E.Tests;

/// <summary>
/// The suite's cluster when no kubeconfig is given: <c>waypoint box --install manifests/install</c> (istiod, the node
/// and its ztunnel from istiod's WDS, the controller as pods — the same launcher as the product's box tests), then
/// what <c>e2e-kind.sh</c> does after its install: applies <c>testdata/apps.yaml</c> and waits for its Deployments
/// and for the waypoint Gateway to be Programmed.
/// </summary>
[SupportedOSPlatform("linux")]
internal sealed class AmbientBox : SharedBoxFixture
{
    /// <summary>Safety net for pods starting on a shared 2-core machine, not a timed assertion.</summary>
    private static readonly TimeSpan s_readyLimit = TimeSpan.FromMinutes(5);

    private static readonly string s_root = KubernetesAssets.FindRepositoryRoot() ?? throw new InvalidOperationException("The repository root (Waypoint.sln) was not found.");

    private static readonly (string Namespace, string Name)[] s_deployments =
        [(AmbientCluster.Namespace, "backend-a"), (AmbientCluster.Namespace, "backend-b"), (AmbientCluster.OtherNamespace, "backend-other"), (AmbientCluster.Namespace, "client")];

    protected override string[] Arguments => ["--install", Path.Combine(s_root, "manifests", "install")];

    public static string AppsManifest => Path.Combine(s_root, "istio-integration", "testdata", "apps.yaml");

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        using var admin = Connection.CreateAdminHttpClient();
        var report = await new BoxApplier(admin, "ambient-e2e").ApplyYamlAsync(await File.ReadAllTextAsync(AppsManifest), AppsManifest, CancellationToken.None);
        if (!report.Succeeded)
        {
            throw new InvalidOperationException($"{AppsManifest} did not apply: {string.Join("; ", report.Failures)}");
        }

        using var client = Connection.CreateKubernetesClient();
        using var limit = new CancellationTokenSource(s_readyLimit);
        foreach (var (ns, name) in s_deployments.Append((AmbientCluster.Namespace, "waypoint")))
        {
            await WaitForDeploymentAsync(client, admin, ns, name, limit.Token);
        }
    }

    private static async Task WaitForDeploymentAsync(Kubernetes client, HttpClient admin, string ns, string name, CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                try
                {
                    var deployment = await client.AppsV1.ReadNamespacedDeploymentAsync(name, ns, cancellationToken: cancellationToken);
                    if (deployment.Status?.AvailableReplicas >= 1)
                    {
                        return;
                    }
                }
                catch (HttpOperationException ex) when (ex.Response.StatusCode == System.Net.HttpStatusCode.NotFound)
                {
                    // The waypoint's Deployment comes from the controller once it sees the Gateway.
                }

                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
            }
        }
        catch (OperationCanceledException)
        {
            var diagnosis = await new DeploymentDiagnosis(admin).DescribeAsync(ns, name, CancellationToken.None);
            throw new TimeoutException($"Deployment {ns}/{name} of the ambient suite was not available within {s_readyLimit.TotalMinutes} min:\n{diagnosis}");
        }
    }
}
