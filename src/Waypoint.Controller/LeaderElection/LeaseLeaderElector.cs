using System.Net;
using k8s.Models;
using Microsoft.Extensions.Logging;
using Waypoint.Controller.Client;

namespace Waypoint.Controller.LeaderElection;

/// <summary>
/// Leader election on a coordination.k8s.io/v1 Lease, with client-go's rules: a lease is free when its holder is
/// empty or it has not been renewed for leaseDuration as observed locally (so clock skew between replicas doesn't
/// matter); writes carry the resourceVersion, so of two candidates only one wins (the other gets 409).
/// A leader that cannot renew within renewDeadline steps down. On shutdown the leader releases the lease.
/// </summary>
internal sealed class LeaseLeaderElector
{
    private readonly KubernetesApiClient _client;
    private readonly LeaderElectionOptions _options;
    private readonly string _namespace;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private string? _observedHolder;
    private DateTime? _observedRenewTime;
    private DateTimeOffset _observedAt;
    private volatile bool _isLeader;

    public LeaseLeaderElector(KubernetesApiClient client, LeaderElectionOptions options, string ns, TimeProvider timeProvider, ILogger logger)
    {
        _client = client;
        _options = options;
        _namespace = ns;
        _timeProvider = timeProvider;
        _logger = logger;
    }

    public bool IsLeader => _isLeader;

    public string Identity => _options.Identity;

    /// <summary>Campaigns until cancelled; runs <paramref name="whileLeading"/> each time leadership is won, cancelling it when lost.</summary>
    public async Task RunAsync(Func<CancellationToken, Task> whileLeading, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                if (!await TryAcquireOrRenewAsync(cancellationToken).ConfigureAwait(false))
                {
                    await Task.Delay(_options.RetryPeriod, _timeProvider, cancellationToken).ConfigureAwait(false);
                    continue;
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }

            _isLeader = true;
            ControllerLog.BecameLeader(_logger, _options.Identity, _options.LeaseName);
            using var leading = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var work = Task.Run(() => whileLeading(leading.Token), CancellationToken.None);
            try
            {
                await HoldAsync(cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                _isLeader = false;
                await leading.CancelAsync().ConfigureAwait(false);
                try
                {
                    await work.ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    // Expected: the leader's work stops with its leadership.
                }

                ControllerLog.StoppedLeading(_logger, _options.Identity, _options.LeaseName);
            }

            if (cancellationToken.IsCancellationRequested)
            {
                if (_options.ReleaseOnCancel)
                {
                    await ReleaseAsync().ConfigureAwait(false);
                }

                return;
            }
        }
    }

    /// <summary>Renews every retry period; returns when a renewal could not succeed within the renew deadline.</summary>
    private async Task HoldAsync(CancellationToken cancellationToken)
    {
        var lastRenew = _timeProvider.GetUtcNow();
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(_options.RetryPeriod, _timeProvider, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            bool renewed;
            try
            {
                using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                attempt.CancelAfter(_options.RenewDeadline);
                renewed = await TryAcquireOrRenewAsync(attempt.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                renewed = false;
            }

            if (renewed)
            {
                lastRenew = _timeProvider.GetUtcNow();
            }
            else if (_timeProvider.GetUtcNow() - lastRenew >= _options.RenewDeadline || _observedHolder != _options.Identity)
            {
                return;
            }
        }
    }

    internal async Task<bool> TryAcquireOrRenewAsync(CancellationToken cancellationToken)
    {
        var now = _timeProvider.GetUtcNow();
        var path = ResourceKind.Leases.ItemPath(_namespace, _options.LeaseName);
        V1Lease lease;
        try
        {
            lease = await _client.GetAsync<V1Lease>(path, cancellationToken).ConfigureAwait(false);
        }
        catch (KubernetesApiException ex) when (ex.IsNotFound)
        {
            var created = new V1Lease
            {
                ApiVersion = "coordination.k8s.io/v1",
                Kind = "Lease",
                Metadata = new V1ObjectMeta { Name = _options.LeaseName, NamespaceProperty = _namespace },
                Spec = new V1LeaseSpec
                {
                    HolderIdentity = _options.Identity,
                    LeaseDurationSeconds = (int)Math.Ceiling(_options.LeaseDuration.TotalSeconds),
                    AcquireTime = now.UtcDateTime,
                    RenewTime = now.UtcDateTime,
                    LeaseTransitions = 0,
                },
            };
            return await WriteAsync(HttpMethod.Post, ResourceKind.Leases.CollectionPath(_namespace), created, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is KubernetesApiException or HttpRequestException)
        {
            ControllerLog.LeaseError(_logger, _options.LeaseName, ex);
            return false;
        }

        var spec = lease.Spec ??= new V1LeaseSpec();
        if (spec.HolderIdentity != _observedHolder || spec.RenewTime != _observedRenewTime)
        {
            _observedHolder = spec.HolderIdentity;
            _observedRenewTime = spec.RenewTime;
            _observedAt = now;
        }

        var held = !string.IsNullOrEmpty(spec.HolderIdentity) && spec.HolderIdentity != _options.Identity;
        var duration = TimeSpan.FromSeconds(spec.LeaseDurationSeconds ?? (int)_options.LeaseDuration.TotalSeconds);
        if (held && now < _observedAt + duration)
        {
            return false;
        }

        if (spec.HolderIdentity != _options.Identity)
        {
            spec.AcquireTime = now.UtcDateTime;
            spec.LeaseTransitions = (spec.LeaseTransitions ?? 0) + 1;
            spec.HolderIdentity = _options.Identity;
        }

        spec.RenewTime = now.UtcDateTime;
        spec.LeaseDurationSeconds = (int)Math.Ceiling(_options.LeaseDuration.TotalSeconds);
        return await WriteAsync(HttpMethod.Put, path, lease, cancellationToken).ConfigureAwait(false);
    }

    private async Task<bool> WriteAsync(HttpMethod method, string path, V1Lease lease, CancellationToken cancellationToken)
    {
        try
        {
            var written = await _client.WriteAsync<V1Lease>(method, path, lease, cancellationToken).ConfigureAwait(false);
            _observedHolder = written.Spec?.HolderIdentity;
            _observedRenewTime = written.Spec?.RenewTime;
            _observedAt = _timeProvider.GetUtcNow();
            return written.Spec?.HolderIdentity == _options.Identity;
        }
        catch (KubernetesApiException ex) when (ex.StatusCode is HttpStatusCode.Conflict)
        {
            // Another candidate wrote first.
            return false;
        }
        catch (Exception ex) when (ex is KubernetesApiException or HttpRequestException)
        {
            ControllerLog.LeaseError(_logger, _options.LeaseName, ex);
            return false;
        }
    }

    /// <summary>Gives the lease up so a successor need not wait for it to expire.</summary>
    private async Task ReleaseAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            var path = ResourceKind.Leases.ItemPath(_namespace, _options.LeaseName);
            var lease = await _client.GetAsync<V1Lease>(path, timeout.Token).ConfigureAwait(false);
            if (lease.Spec?.HolderIdentity != _options.Identity)
            {
                return;
            }

            lease.Spec.HolderIdentity = null;
            lease.Spec.LeaseDurationSeconds = 1;
            lease.Spec.RenewTime = _timeProvider.GetUtcNow().UtcDateTime;
            await _client.WriteAsync<V1Lease>(HttpMethod.Put, path, lease, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is KubernetesApiException or HttpRequestException or OperationCanceledException)
        {
            ControllerLog.LeaseError(_logger, _options.LeaseName, ex);
        }
    }
}
