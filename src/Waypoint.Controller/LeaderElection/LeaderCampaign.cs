using k8s.LeaderElection;
using k8s.Models;
using k8s.LeaderElection.ResourceLock;
using Microsoft.Extensions.Logging;
using Waypoint.Controller.Client;

namespace Waypoint.Controller.LeaderElection;

/// <summary>
/// Campaigns for the coordination.k8s.io/v1 Lease with KubernetesClient's <see cref="LeaderElector"/> (client-go's
/// rules: expiry judged by local observation, a leader that cannot renew within RenewDeadline steps down) and runs the
/// leader's work for each term, cancelling it when the term ends. A hung acquire is abandoned by the elector after a
/// retry period and every API call is bounded by the client's request timeout, so the campaign always moves on.
/// Crash-only: the task faults when the elector throws or the leader's work fails, and the caller stops the process.
/// </summary>
internal sealed class LeaderCampaign
{
    private readonly KubernetesApiClient _client;
    private readonly LeaderElectionOptions _options;
    private readonly string _namespace;
    private readonly ILogger _logger;
    private volatile bool _isLeader;

    public LeaderCampaign(KubernetesApiClient client, LeaderElectionOptions options, string ns, ILogger logger)
    {
        _client = client;
        _options = options;
        _namespace = ns;
        _logger = logger;
    }

    /// <summary>True while this replica's leader work runs.</summary>
    public bool IsLeader => _isLeader;

    public async Task RunAsync(Func<CancellationToken, Task> whileLeading, CancellationToken cancellationToken)
    {
        var leaseLock = new CallFailureTolerantLock(new LeaseLock(_client, _namespace, _options.LeaseName, _options.Identity));
        using var elector = new LeaderElector(new LeaderElectionConfig(leaseLock)
        {
            LeaseDuration = _options.LeaseDuration,
            RenewDeadline = _options.RenewDeadline,
            RetryPeriod = _options.RetryPeriod,
        });
        Term? term = null;
        var workFailed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        elector.OnStartedLeading += () =>
        {
            var started = new Term(cancellationToken);
            started.Work = Task.Run(() => whileLeading(started.Token), CancellationToken.None);
            _ = started.Work.ContinueWith(
                t => workFailed.TrySetException(t.Exception!.InnerExceptions),
                CancellationToken.None,
                TaskContinuationOptions.OnlyOnFaulted,
                TaskScheduler.Default);
            term = started;
            _isLeader = true;
            ControllerLog.BecameLeader(_logger, _options.Identity, _options.LeaseName);
        };
        elector.OnStoppedLeading += () =>
        {
            _isLeader = false;
            term?.Stop();
            ControllerLog.StoppedLeading(_logger, _options.Identity, _options.LeaseName);
        };
        elector.OnNewLeader += leader => ControllerLog.NewLeader(_logger, leader ?? "", _options.LeaseName);
        elector.OnError += ex => ControllerLog.LeaseError(_logger, _options.LeaseName, ex);

        var everLed = false;
        using var campaigning = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                var election = elector.RunUntilLeadershipLostAsync(campaigning.Token);
                if (await Task.WhenAny(election, workFailed.Task).ConfigureAwait(false) == workFailed.Task)
                {
                    // The leader's work died while the elector would go on renewing: stop campaigning and fail.
                    await campaigning.CancelAsync().ConfigureAwait(false);
                    await workFailed.Task.ConfigureAwait(false);
                }

                await election.ConfigureAwait(false);
                everLed |= term is not null;
                await StopTermAsync(term).ConfigureAwait(false);
                term = null;
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Shutting down.
        }
        finally
        {
            _isLeader = false;
            everLed |= term is not null;
            term?.Stop();
            await StopTermAsync(term).ConfigureAwait(false);
        }

        if (everLed && _options.ReleaseOnCancel)
        {
            await ReleaseAsync().ConfigureAwait(false);
        }
    }

    private static async Task StopTermAsync(Term? term)
    {
        if (term?.Work is not { } work)
        {
            return;
        }

        try
        {
            await work.ConfigureAwait(false);
        }
        catch (Exception) when (work.IsCanceled || work.IsFaulted)
        {
            // Cancelled: the leader's work stops with its term. Faulted: already reported through the campaign's failure.
        }
        finally
        {
            term.Dispose();
        }
    }

    /// <summary>
    /// Gives the Lease up (empty holder, one-second duration, as client-go does) so a successor need not wait for it to
    /// expire. Written with the read resourceVersion; a conflict (the elector's last renewal landed in between) or a
    /// connection torn down by the shutdown of the other loops is retried a few times.
    /// </summary>
    private async Task ReleaseAsync()
    {
        using var timeout = new CancellationTokenSource(_client.RequestTimeout);
        var path = ResourceKind.Leases.ItemPath(_namespace, _options.LeaseName);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var lease = await _client.GetAsync<V1Lease>(path, timeout.Token).ConfigureAwait(false);
                if (lease.Spec?.HolderIdentity != _options.Identity)
                {
                    return;
                }

                var now = DateTime.UtcNow;
                lease.Spec.HolderIdentity = "";
                lease.Spec.LeaseDurationSeconds = 1;
                lease.Spec.AcquireTime = now;
                lease.Spec.RenewTime = now;
                await _client.WriteAsync<V1Lease>(HttpMethod.Put, path, lease, timeout.Token).ConfigureAwait(false);
                return;
            }
            catch (Exception ex) when (attempt < 3 && !timeout.IsCancellationRequested
                && (ex is HttpRequestException or OperationCanceledException || (ex is KubernetesApiException api && api.IsConflict)))
            {
                // Try again.
            }
            catch (Exception ex) when (ex is KubernetesApiException or HttpRequestException or TimeoutException or OperationCanceledException)
            {
                ControllerLog.LeaseReleaseFailed(_logger, _options.LeaseName, ex);
                return;
            }
        }
    }

    private sealed class Term(CancellationToken stopping) : IDisposable
    {
        private readonly CancellationTokenSource _cancel = CancellationTokenSource.CreateLinkedTokenSource(stopping);

        public CancellationToken Token => _cancel.Token;

        public Task? Work { get; set; }

        public void Stop() => _cancel.Cancel();

        public void Dispose() => _cancel.Dispose();
    }
}
