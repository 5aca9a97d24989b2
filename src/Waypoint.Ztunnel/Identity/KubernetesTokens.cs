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
