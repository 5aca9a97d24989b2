using System.Net.Http.Headers;

namespace Waypoint.Cli.Connection;

/// <summary>
/// <c>--controller-url</c>: one controller at a URL the user reaches (a Service, a <c>kubectl port-forward</c>).
/// Off loopback the controller wants a bearer token (<c>--token</c>) that RBAC allows to read Gateways.
/// </summary>
public sealed class DirectControllerLocator(Uri url, string? token, TimeSpan timeout) : IControllerLocator
{
    private ControllerReplica? _replica;

    public string Description => $"the controller at {url}";

    public Task<IReadOnlyList<ControllerReplica>> LocateAsync(CancellationToken cancellationToken)
    {
        if (url.Scheme is not ("http" or "https"))
        {
            throw new ControllerUnreachableException($"--controller-url must be an http:// or https:// URL (got '{url}').");
        }

        var http = new HttpClient { BaseAddress = url, Timeout = timeout };
        if (token is { Length: > 0 })
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        _replica = new ControllerReplica(url.ToString().TrimEnd('/'), url.ToString(), http);
        return Task.FromResult<IReadOnlyList<ControllerReplica>>([_replica]);
    }

    public void Dispose() => _replica?.Dispose();
}
