using System.Text;
using System.Text.Json.Nodes;
using k8s;
using k8s.Autorest;

namespace Waypoint.Ambient.E2E.Tests;

/// <summary>
/// The cluster under test — the kind cluster of <c>make e2e-kind</c> (WAYPOINT_E2E_KUBECONFIG) or else a box started
/// for the run (<see cref="AmbientBox"/>) — with kubectl-like helpers and curl from the captured client pod. The
/// tests make the same Kubernetes API calls on both.
/// </summary>
public sealed class AmbientCluster : IAsyncLifetime, IDisposable
{
    public const string Namespace = "ambient-e2e";
    public const string OtherNamespace = "ambient-e2e-other";
    public const string RouteGroup = "gateway.networking.k8s.io";

    private AmbientBox? _box;
    private Kubernetes? _client;

    public Kubernetes Client => _client ?? throw new InvalidOperationException("The cluster is not connected.");

    public async Task InitializeAsync()
    {
        switch (AmbientTarget.Kind)
        {
            case AmbientTargetKind.Kubeconfig:
                _client = new Kubernetes(KubernetesClientConfiguration.BuildConfigFromConfigFile(AmbientTarget.Detail));
                break;
            case AmbientTargetKind.Box:
                _box = new AmbientBox();
                await _box.InitializeAsync();
                _client = _box.Connection.CreateKubernetesClient();
                break;
            case AmbientTargetKind.None when !AmbientTarget.InCi:
                return; // Every test is skipped (AmbientFact says why); xunit still builds the fixture.
            default:
                // CI=true without a cluster: fail, saying what is missing.
                throw new InvalidOperationException(AmbientTarget.NoClusterMessage);
        }
    }

    public async Task DisposeAsync()
    {
        Dispose();
        if (_box is not null)
        {
            await _box.DisposeAsync();
        }
    }

    public void Dispose() => _client?.Dispose();

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

    /// <summary>
    /// Deletes a route a test made. Every test cleans up its routes: by Gateway API precedence an older route's
    /// catch-all rule wins over a newer one's, so a leftover route would decide what the next test's route may do.
    /// </summary>
    public async Task DeleteAsync(string ns, string plural, string name)
    {
        try
        {
            await Client.CustomObjects.DeleteNamespacedCustomObjectAsync(RouteGroup, "v1", ns, plural, name);
        }
        catch (HttpOperationException ex) when (ex.Response.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            // Already gone.
        }
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
