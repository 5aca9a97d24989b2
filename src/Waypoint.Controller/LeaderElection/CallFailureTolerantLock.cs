using System.Net;
using k8s.Autorest;
using k8s.LeaderElection;

namespace Waypoint.Controller.LeaderElection;

/// <summary>
/// KubernetesClient's <see cref="LeaderElector"/> treats an API error answer as "not acquired, retry" but lets any
/// other failure escape while it acquires, ending the election. A refused connection or an API call that timed out is
/// an API error in all but form: this lock reports it as one (a 503 answer), so the elector retries. Every other
/// exception (a Lease that does not deserialize, a bug) still escapes, and the controller stops (crash-only).
/// </summary>
internal sealed class CallFailureTolerantLock(ILock inner) : ILock
{
    public string Identity => inner.Identity;

    public async Task<LeaderElectionRecord> GetAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            return await inner.GetAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsCallFailure(ex, cancellationToken))
        {
            throw Unavailable(ex);
        }
    }

    public async Task<bool> CreateAsync(LeaderElectionRecord record, CancellationToken cancellationToken = default)
    {
        try
        {
            return await inner.CreateAsync(record, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsCallFailure(ex, cancellationToken))
        {
            return false;
        }
    }

    public async Task<bool> UpdateAsync(LeaderElectionRecord record, CancellationToken cancellationToken = default)
    {
        try
        {
            return await inner.UpdateAsync(record, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsCallFailure(ex, cancellationToken))
        {
            return false;
        }
    }

    public string Describe() => inner.Describe();

    private static bool IsCallFailure(Exception ex, CancellationToken cancellationToken) =>
        ex is HttpRequestException or TimeoutException
        || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested);

    private static HttpOperationException Unavailable(Exception cause) =>
        new($"The Lease could not be read: {cause.Message}", cause)
        {
            Response = new HttpResponseMessageWrapper(new HttpResponseMessage(HttpStatusCode.ServiceUnavailable), ""),
        };
}
