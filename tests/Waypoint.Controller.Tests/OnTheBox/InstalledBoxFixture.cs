using System.Runtime.Versioning;
using k8s;
using k8s.Models;
using Waypoint.Box.Apply;
using Waypoint.Box.Assets;
using Waypoint.Box.Pki;
using Waypoint.TestKit.Box;

namespace Waypoint.Controller.Tests.OnTheBox;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class OnTheBoxTests
{
    public const string Name = "On the box";
}

/// <summary>
/// A real API server (the box, without istiod) with the shipped install applied as a user applies it
/// (<c>manifests/install</c>), and a kubeconfig that authenticates as the <c>waypoint-controller</c> ServiceAccount:
/// the controller under test gets exactly what <c>manifests/install/rbac.yaml</c> grants.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class InstalledBoxFixture : SharedBoxFixture
{
    public const string ControllerNamespace = "waypoint-system";
    public const string ControllerServiceAccount = "waypoint-controller";

    public string ControllerKubeconfigPath { get; private set; } = "";

    public k8s.Kubernetes Admin { get; private set; } = null!;

    protected override string[] Arguments => ["--no-istiod"];

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        Admin = Connection.CreateKubernetesClient();
        var root = KubernetesAssets.FindRepositoryRoot() ?? throw new InvalidOperationException("The repository root (Waypoint.sln) was not found.");
        var applier = new BoxApplier(Connection.CreateAdminHttpClient(), "waypoint-install");
        var report = await applier.ApplyDirectoryAsync(Path.Combine(root, "manifests", "install"), CancellationToken.None);
        Assert.True(report.Succeeded, "manifests/install did not apply to the real API server:\n" + string.Join("\n", report.Failures));

        var token = await Admin.CoreV1.CreateNamespacedServiceAccountTokenAsync(
            new Authenticationv1TokenRequest { Spec = new V1TokenRequestSpec { ExpirationSeconds = 3600 } },
            ControllerServiceAccount,
            ControllerNamespace);
        ControllerKubeconfigPath = Kubeconfig.WriteToken(
            Path.Combine(Process.Directory, "controller.kubeconfig"),
            Connection.ApiServerUrl,
            Connection.State.CaCertificatePath,
            $"system:serviceaccount:{ControllerNamespace}:{ControllerServiceAccount}",
            token.Status.Token);
    }

    public KubernetesClientConfiguration ControllerConfiguration() => Connection.CreateKubernetesConfiguration(ControllerKubeconfigPath);
}
