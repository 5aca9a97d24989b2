using System.Text;
using System.Text.Json.Nodes;
using k8s;
using k8s.Autorest;

namespace Waypoint.Ambient.E2E.Tests;

/// <summary>A test that needs the kind cluster of istio-integration/e2e-kind.sh; skipped without WAYPOINT_E2E_KUBECONFIG.</summary>
public sealed class AmbientFactAttribute : FactAttribute
{
    public AmbientFactAttribute()
    {
        if (string.IsNullOrEmpty(AmbientCluster.Kubeconfig))
        {
            Skip = "Needs a kind cluster with Istio ambient and Waypoint: run `make e2e-kind` (sets WAYPOINT_E2E_KUBECONFIG).";
        }
    }
}

/// <summary>The cluster under test: kubectl-like helpers and curl from the captured client pod.</summary>
public sealed class AmbientCluster : IDisposable
{
    public const string Namespace = "ambient-e2e";
    public const string OtherNamespace = "ambient-e2e-other";
    public const string RouteGroup = "gateway.networking.k8s.io";

    public AmbientCluster()
    {
        Client = new Kubernetes(KubernetesClientConfiguration.BuildConfigFromConfigFile(Kubeconfig));
    }

    public static string? Kubeconfig => Environment.GetEnvironmentVariable("WAYPOINT_E2E_KUBECONFIG");

    public Kubernetes Client { get; }

    public void Dispose() => Client.Dispose();

    /// <summary>Runs curl in the client pod; returns the HTTP status code and the body.</summary>
    public async Task<(int Status, string Body)> CurlAsync(string url, params string[] extra)
    {
        var pods = await Client.CoreV1.ListNamespacedPodAsync(Namespace, labelSelector: "app=client");
        var pod = pods.Items.First(p => p.Status?.Phase == "Running").Metadata.Name;
        var command = new List<string> { "curl", "-s", "-m", "10", "-w", "\n%{http_code}" };
        command.AddRange(extra);
        command.Add(url);
        var stdout = new StringBuilder();
        await Client.NamespacedPodExecAsync(pod, Namespace, "curl", command, tty: false, async (_, output, _) =>
        {
            using var reader = new StreamReader(output);
            stdout.Append(await reader.ReadToEndAsync());
        }, CancellationToken.None);
        var text = stdout.ToString();
        var split = text.LastIndexOf('\n');
        var code = int.TryParse(text[(split + 1)..].Trim(), out var c) ? c : 0;
        return (code, split < 0 ? "" : text[..split]);
    }

    public async Task ApplyAsync(string ns, string plural, JsonObject body)
    {
        var name = body["metadata"]!["name"]!.GetValue<string>();
        try
        {
            await Client.CustomObjects.DeleteNamespacedCustomObjectAsync(RouteGroup, "v1", ns, plural, name);
        }
        catch (HttpOperationException ex) when (ex.Response.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            // Nothing to replace.
        }

        await Client.CustomObjects.CreateNamespacedCustomObjectAsync(body, RouteGroup, "v1", ns, plural);
    }

    public async Task<JsonNode> GetAsync(string ns, string plural, string name) =>
        JsonNode.Parse(KubernetesJson.Serialize(await Client.CustomObjects.GetNamespacedCustomObjectAsync(RouteGroup, "v1", ns, plural, name)))!;

    /// <summary>Polls until <paramref name="condition"/> holds (routes take a moment to reach Envoy).</summary>
    public static async Task EventuallyAsync(Func<Task<bool>> condition, string description, int seconds = 60)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException(description);
            }

            await Task.Delay(TimeSpan.FromSeconds(1));
        }
    }

    public static JsonObject Route(string name, string service, string rules) => JsonNode.Parse("""
        {"apiVersion":"gateway.networking.k8s.io/v1","kind":"HTTPRoute","metadata":{"name":"NAME","namespace":"NAMESPACE"},
         "spec":{"parentRefs":[{"group":"","kind":"Service","name":"SERVICE","port":8080}],"rules":RULES}}
        """.Replace("NAMESPACE", Namespace, StringComparison.Ordinal).Replace("NAME", name, StringComparison.Ordinal)
           .Replace("SERVICE", service, StringComparison.Ordinal).Replace("RULES", rules, StringComparison.Ordinal))!.AsObject();
}
