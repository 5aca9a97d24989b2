using System.Web;

namespace Waypoint.Controller.Client;

/// <summary>
/// Bounds every API call: a request (headers and body) that does not complete within the timeout fails with
/// <see cref="TimeoutException"/> instead of waiting forever on a wedged connection. A watch is bounded until its
/// headers arrive; after that the informer's idle timeout watches the stream.
/// </summary>
internal sealed class RequestTimeoutHandler : DelegatingHandler
{
    private readonly TimeSpan _timeout;
    private readonly TimeProvider _timeProvider;

    public RequestTimeoutHandler(TimeSpan timeout, TimeProvider timeProvider)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(timeout, TimeSpan.Zero);
        _timeout = timeout;
        _timeProvider = timeProvider;
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(_timeout, _timeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        try
        {
            var response = await base.SendAsync(request, linked.Token).ConfigureAwait(false);
            if (!IsWatch(request))
            {
                // The body is part of the call: a server that sends headers and then stalls must not hang the caller.
                await response.Content.LoadIntoBufferAsync(linked.Token).ConfigureAwait(false);
            }

            return response;
        }
        catch (OperationCanceledException ex) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"The API server did not answer {request.Method} {request.RequestUri?.AbsolutePath} within {_timeout.TotalSeconds:0.###} s.", ex);
        }
    }

    private static bool IsWatch(HttpRequestMessage request) =>
        request.RequestUri is { } uri && HttpUtility.ParseQueryString(uri.Query)["watch"] is "true" or "1";
}
