using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using k8s;
using k8s.Autorest;

namespace Waypoint.Controller.Client;

/// <summary>
/// Raw REST access to the API server through KubernetesClient's authenticated pipeline (TLS, tokens, exec plugins),
/// for any group/version/plural: one code path for core kinds, Gateway API and CRDs that may not be installed.
/// </summary>
internal class KubernetesApiClient : Kubernetes
{
    /// <summary>How long any API call may take (a watch: until its headers) before it fails with <see cref="TimeoutException"/>.</summary>
    public static readonly TimeSpan DefaultRequestTimeout = TimeSpan.FromSeconds(30);

    public KubernetesApiClient(KubernetesClientConfiguration configuration)
        : this(configuration, DefaultRequestTimeout, TimeProvider.System)
    {
    }

    public KubernetesApiClient(KubernetesClientConfiguration configuration, TimeSpan requestTimeout, TimeProvider timeProvider)
        : base(configuration, new RequestTimeoutHandler(requestTimeout, timeProvider))
    {
        RequestTimeout = requestTimeout;
    }

    public TimeSpan RequestTimeout { get; }

    /// <summary>Sends a request; the response body is not buffered (watches stream).</summary>
    /// <exception cref="KubernetesApiException">The server answered with a non-success status.</exception>
    public virtual async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, string? body, string? contentType, CancellationToken cancellationToken)
    {
        var request = new HttpRequestMessage(method, new Uri(BaseUri, path.TrimStart('/')));
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8);
            request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType ?? "application/json");
        }

        try
        {
            return await SendRequestRaw(body ?? "", request, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpOperationException ex)
        {
            throw KubernetesApiException.From(ex.Response?.StatusCode ?? 0, ex.Response?.Content, ex);
        }
    }

    public async Task<T> GetAsync<T>(string path, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(HttpMethod.Get, path, null, null, cancellationToken).ConfigureAwait(false);
        return await ReadAsync<T>(response, cancellationToken).ConfigureAwait(false);
    }

    public async Task<T> WriteAsync<T>(HttpMethod method, string path, object body, CancellationToken cancellationToken, string contentType = "application/json")
    {
        var json = body as string ?? KubernetesJson.Serialize(body);
        using var response = await SendAsync(method, path, json, contentType, cancellationToken).ConfigureAwait(false);
        return await ReadAsync<T>(response, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Server-side apply: <c>PATCH</c> with <c>application/apply-patch+yaml</c> (JSON is YAML) as <paramref name="fieldManager"/>,
    /// forcing ownership of conflicting fields. Creates the object when absent; fields this manager applied before and no
    /// longer sends are removed; fields other managers own and we do not send are left alone.
    /// </summary>
    public async Task<T> ApplyAsync<T>(string path, object body, string fieldManager, CancellationToken cancellationToken)
    {
        var query = $"?fieldManager={Uri.EscapeDataString(fieldManager)}&force=true";
        return await WriteAsync<T>(HttpMethod.Patch, path + query, body, cancellationToken, "application/apply-patch+yaml").ConfigureAwait(false);
    }

    public async Task DeleteAsync(string path, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(HttpMethod.Delete, path, null, null, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<T> ReadAsync<T>(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        return KubernetesJson.Deserialize<T>(stream);
    }
}

/// <summary>A non-success answer of the API server, with the reason of its Status body.</summary>
internal sealed class KubernetesApiException : Exception
{
    public KubernetesApiException()
    {
    }

    public KubernetesApiException(string message)
        : base(message)
    {
    }

    public KubernetesApiException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public KubernetesApiException(HttpStatusCode statusCode, string? reason, string message, Exception? innerException)
        : base(message, innerException)
    {
        StatusCode = statusCode;
        Reason = reason;
    }

    public HttpStatusCode StatusCode { get; }

    public string? Reason { get; }

    public bool IsConflict => StatusCode == HttpStatusCode.Conflict;

    public bool IsNotFound => StatusCode == HttpStatusCode.NotFound;

    public bool IsGone => StatusCode == HttpStatusCode.Gone;

    internal static KubernetesApiException From(HttpStatusCode statusCode, string? content, Exception? inner)
    {
        string? reason = null;
        var message = $"the API server answered {(int)statusCode} {statusCode}";
        if (!string.IsNullOrEmpty(content))
        {
            try
            {
                using var document = JsonDocument.Parse(content);
                if (document.RootElement.ValueKind == JsonValueKind.Object)
                {
                    if (document.RootElement.TryGetProperty("reason", out var r) && r.ValueKind == JsonValueKind.String)
                    {
                        reason = r.GetString();
                    }

                    if (document.RootElement.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String)
                    {
                        message += ": " + m.GetString();
                    }
                }
            }
            catch (JsonException)
            {
                // Not a Status body (a proxy in the way, say): the status code alone tells what happened.
            }
        }

        return new KubernetesApiException(statusCode, reason, message, inner);
    }
}
