using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Waypoint.Ztunnel.Identity;

/// <summary>
/// What the ztunnel asks the API server for, with the node's privileged client: short-lived ServiceAccount tokens
/// (TokenRequest, audience <c>istio-ca</c>), istiod's mesh root (ConfigMap <c>istio-ca-root-cert</c>), and its own
/// ServiceAccount. Tokens are returned to the caller only, never logged.
/// </summary>
public sealed class KubernetesTokens(HttpClient apiClient)
{
    public const string IstioCaAudience = "istio-ca";

    public async Task<string> RequestTokenAsync(string @namespace, string serviceAccount, TimeSpan lifetime, CancellationToken cancellationToken)
    {
        var body = new JsonObject
        {
            ["apiVersion"] = "authentication.k8s.io/v1",
            ["kind"] = "TokenRequest",
            ["spec"] = new JsonObject { ["audiences"] = new JsonArray(IstioCaAudience), ["expirationSeconds"] = (long)lifetime.TotalSeconds },
        };
        using var response = await apiClient.PostAsJsonAsync(
            new Uri($"/api/v1/namespaces/{Uri.EscapeDataString(@namespace)}/serviceaccounts/{Uri.EscapeDataString(serviceAccount)}/token", UriKind.Relative),
            body,
            cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw new HttpRequestException($"TokenRequest for {@namespace}/{serviceAccount} answered {(int)response.StatusCode}.", null, response.StatusCode);
        }

        var answer = await response.Content.ReadFromJsonAsync<JsonObject>(cancellationToken).ConfigureAwait(false);
        return answer?["status"]?["token"]?.GetValue<string>() is { Length: > 0 } token
            ? token
            : throw new HttpRequestException($"TokenRequest for {@namespace}/{serviceAccount} returned no token.");
    }

    /// <summary>istiod's root bundle from the ConfigMap it writes into every namespace; null until it exists.</summary>
    public async Task<string?> ReadMeshRootAsync(string @namespace, CancellationToken cancellationToken)
    {
        using var response = await apiClient.GetAsync(new Uri($"/api/v1/namespaces/{Uri.EscapeDataString(@namespace)}/configmaps/istio-ca-root-cert", UriKind.Relative), cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        response.EnsureSuccessStatusCode();
        var map = await response.Content.ReadFromJsonAsync<JsonObject>(cancellationToken).ConfigureAwait(false);
        return map?["data"]?["root-cert.pem"]?.GetValue<string>();
    }

    /// <summary>The namespaces labelled <c>istio.io/dataplane-mode=ambient</c> (istio-cni's enrollment rule; WDS carries no namespace labels).</summary>
    public async Task<IReadOnlySet<string>> ListAmbientNamespacesAsync(CancellationToken cancellationToken)
    {
        var list = await apiClient.GetFromJsonAsync<JsonObject>(new Uri("/api/v1/namespaces?labelSelector=istio.io%2Fdataplane-mode%3Dambient", UriKind.Relative), cancellationToken).ConfigureAwait(false);
        return (list?["items"]?.AsArray() ?? []).Select(i => i?["metadata"]?["name"]?.GetValue<string>()).OfType<string>().ToHashSet(StringComparer.Ordinal);
    }

    /// <summary>Pods on <paramref name="nodeName"/> labelled <c>istio.io/dataplane-mode=none</c> (opted out, as waypoint pods are), as <c>ns/name</c>.</summary>
    public async Task<IReadOnlySet<string>> ListOptedOutPodsAsync(string nodeName, CancellationToken cancellationToken)
    {
        var list = await apiClient.GetFromJsonAsync<JsonObject>(
            new Uri($"/api/v1/pods?labelSelector=istio.io%2Fdataplane-mode%3Dnone&fieldSelector=spec.nodeName%3D{Uri.EscapeDataString(nodeName)}", UriKind.Relative),
            cancellationToken).ConfigureAwait(false);
        return (list?["items"]?.AsArray() ?? [])
            .Select(i => i?["metadata"] is { } m ? $"{m["namespace"]?.GetValue<string>()}/{m["name"]?.GetValue<string>()}" : null)
            .OfType<string>()
            .ToHashSet(StringComparer.Ordinal);
    }

    /// <summary>
    /// Marks a pod captured, as istio-cni does once its redirection is in place: istiod then reports the workload with
    /// tunnel protocol HBONE, so ztunnels send it HBONE.
    /// </summary>
    public async Task AnnotateCapturedAsync(string @namespace, string pod, CancellationToken cancellationToken)
    {
        using var patch = new StringContent("""{"metadata":{"annotations":{"ambient.istio.io/redirection":"enabled"}}}""", System.Text.Encoding.UTF8, "application/merge-patch+json");
        using var response = await apiClient.PatchAsync(new Uri($"/api/v1/namespaces/{Uri.EscapeDataString(@namespace)}/pods/{Uri.EscapeDataString(pod)}", UriKind.Relative), patch, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode && response.StatusCode != HttpStatusCode.NotFound)
        {
            throw new HttpRequestException($"Annotating pod {@namespace}/{pod} answered {(int)response.StatusCode}.", null, response.StatusCode);
        }
    }

    /// <summary>Creates the ServiceAccount unless it exists.</summary>
    public async Task EnsureServiceAccountAsync(string @namespace, string name, CancellationToken cancellationToken)
    {
        var body = new JsonObject { ["apiVersion"] = "v1", ["kind"] = "ServiceAccount", ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = @namespace } };
        using var response = await apiClient.PostAsJsonAsync(new Uri($"/api/v1/namespaces/{Uri.EscapeDataString(@namespace)}/serviceaccounts", UriKind.Relative), body, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode && response.StatusCode != HttpStatusCode.Conflict)
        {
            throw new HttpRequestException($"Creating ServiceAccount {@namespace}/{name} answered {(int)response.StatusCode}.", null, response.StatusCode);
        }
    }
}
