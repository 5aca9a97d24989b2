using System.Net.Http.Json;
using System.Runtime.Versioning;
using System.Text.Json;
using k8s.Models;
using Waypoint.Box.Assets;
using Waypoint.Box.Product;
using Waypoint.TestKit.Box;

namespace Waypoint.Controller.Tests.OnTheBox;

/// <summary>
/// The product as a user installs it: <c>waypoint box --install manifests/install</c> (istiod and the node included),
/// ready once the controller Deployment — two pods on the box's node, in-cluster config, certificate from istiod — is
/// Available. Nothing of the controller runs in the test process.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class ProductBoxFixture : SharedBoxFixture
{
    public const string ControllerNamespace = "waypoint-system";
    public const string ControllerServiceAccount = "waypoint-controller";
    public const string ControllerSelector = "app.kubernetes.io/name=waypoint-controller";

    private static readonly string Root = KubernetesAssets.FindRepositoryRoot() ?? throw new InvalidOperationException("The repository root (Waypoint.sln) was not found.");

    public k8s.Kubernetes Admin { get; private set; } = null!;

    public HttpClient AdminHttp { get; private set; } = null!;

    protected override string[] Arguments => ["--install", Path.Combine(Root, "manifests", "install")];

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        Admin = Connection.CreateKubernetesClient();
        AdminHttp = Connection.CreateAdminHttpClient();
    }

    /// <summary>What kubectl describe and logs would say about a Deployment, for a failure message.</summary>
    public Task<string> DescribeAsync(string ns, string deployment) => new DeploymentDiagnosis(AdminHttp).DescribeAsync(ns, deployment, CancellationToken.None);

    /// <summary>
    /// The ServiceAccount token the kubelet projected into a pod (volume <c>kube-api-access-*</c>): read through the
    /// box process's mount namespace, where the kubelet mounted it.
    /// </summary>
    public string ReadProjectedToken(V1Pod pod)
    {
        var node = Connection.State.Node ?? throw new InvalidOperationException("The box runs no node.");
        var projected = Connection.State.OutsidePath(Path.Combine(node.RootDirectory, "kubelet", "pods", pod.Metadata.Uid, "volumes", "kubernetes.io~projected"));
        var volume = Directory.GetDirectories(projected, "kube-api-access-*").Single();
        return File.ReadAllText(Path.Combine(volume, "token")).Trim();
    }

    /// <summary>POSTs a review (SelfSubjectReview, SelfSubjectAccessReview) as the bearer of <paramref name="token"/>.</summary>
    public async Task<JsonElement> ReviewAsTokenAsync(string token, string path, object review)
    {
        using var client = Connection.CreateTokenHttpClient(token);
        using var response = await client.PostAsJsonAsync(path, review);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"POST {path} answered {(int)response.StatusCode}: {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }
}
