using Grpc.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Waypoint.Agent.Ca;
using Waypoint.Agent.Certificates;

namespace Waypoint.Agent;

/// <summary>
/// Owns the pod's current validated <see cref="WorkloadCertificate"/>: obtains it (fresh key + CSR → CA → validation),
/// rotates it at about half its lifetime with jitter, and retries failures with backoff while the old certificate
/// keeps serving. Subscribers (the SDS server) learn of each new certificate through <see cref="CertificateChanged"/>.
/// </summary>
public sealed class WorkloadCertificateManager
{
    private static readonly HashSet<StatusCode> s_transientCodes =
    [
        StatusCode.Unavailable, StatusCode.DeadlineExceeded, StatusCode.Internal, StatusCode.ResourceExhausted,
        StatusCode.Aborted, StatusCode.Cancelled, StatusCode.Unknown,
    ];

    private readonly AgentOptions _options;
    private readonly ICertificateAuthorityClient _ca;
    private readonly TimeProvider _time;
    private readonly AgentMetrics _metrics;
    private readonly ILogger _logger;
    private readonly TaskCompletionSource<WorkloadCertificate> _first = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private WorkloadCertificate? _current;
    private int _consecutiveTransientFailures;
    private long _generation;

    public WorkloadCertificateManager(
        IOptions<AgentOptions> options,
        ICertificateAuthorityClient certificateAuthority,
        TimeProvider timeProvider,
        AgentMetrics metrics,
        ILogger<WorkloadCertificateManager> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(certificateAuthority);
        ArgumentNullException.ThrowIfNull(timeProvider);
        ArgumentNullException.ThrowIfNull(metrics);
        ArgumentNullException.ThrowIfNull(logger);
        _options = options.Value;
        _ca = certificateAuthority;
        _time = timeProvider;
        _metrics = metrics;
        _logger = logger;
    }

    /// <summary>Raised after a new validated certificate replaced the previous one (on the rotation loop's thread; handlers must not block).</summary>
    public event EventHandler<WorkloadCertificate>? CertificateChanged;

    /// <summary>Raised when the loop has armed its timer for the next attempt (lets fake-time tests advance safely).</summary>
    internal event Action<DateTimeOffset>? AttemptScheduled;

    /// <summary>The installed certificate, or null before the first success.</summary>
    public WorkloadCertificate? Current => Volatile.Read(ref _current);

    /// <summary>Increments with each installed certificate; SDS uses it as the secret version.</summary>
    public long Generation => Interlocked.Read(ref _generation);

    /// <summary>The most recent failure since the last success, for health reporting (message only, no secrets).</summary>
    public string? LastError { get; private set; }

    /// <summary>When the loop will next rotate the installed certificate.</summary>
    public DateTimeOffset NextRotation { get; private set; }

    /// <summary>Ready when a certificate is installed and not expired.</summary>
    public bool IsReady => Current is { } c && c.IsValidAt(_time.GetUtcNow());

    /// <summary>Completes with the first installed certificate.</summary>
    public Task<WorkloadCertificate> WaitForCertificateAsync(CancellationToken cancellationToken) =>
        _first.Task.WaitAsync(cancellationToken);

    /// <summary>The rotation loop: runs until cancelled. Never throws for CA or validation failures; it retries.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            TimeSpan delay;
            try
            {
                await RenewAsync(cancellationToken).ConfigureAwait(false);
                delay = NextRotation - _time.GetUtcNow();
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (WorkloadCertificateException ex)
            {
                delay = OnFailure(ex);
            }
            catch (Exception ex)
            {
                // Unexpected (e.g. a transport exception gRPC did not wrap): retry with backoff rather than lose the pod's identity.
                delay = OnFailure(new WorkloadCertificateException(CertificateFailureKind.LocalConfiguration, $"Unexpected {ex.GetType().Name}: {ex.Message}", innerException: ex));
            }

            if (delay < TimeSpan.Zero)
            {
                delay = TimeSpan.Zero;
            }

            var wait = Task.Delay(delay, _time, cancellationToken);
            AttemptScheduled?.Invoke(_time.GetUtcNow() + delay);
            try
            {
                await wait.ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
        }
    }

    /// <summary>One attempt: new key, CSR, CA call, validation, install. Throws <see cref="WorkloadCertificateException"/> and installs nothing on failure.</summary>
    public async Task<WorkloadCertificate> RenewAsync(CancellationToken cancellationToken)
    {
        var identity = _options.ExpectedIdentity;
        var csr = WorkloadCsr.Create(identity, _options.KeyType);
        var chain = await _ca.CreateCertificateAsync(csr.CsrPem, _options.CertificateTtl, cancellationToken).ConfigureAwait(false);

        IReadOnlyList<System.Security.Cryptography.X509Certificates.X509Certificate2> configuredRoots;
        try
        {
            configuredRoots = [.. IstioCaClient.ReadRoots(_options.RootCertPath)];
        }
        catch (WorkloadCertificateException)
        {
            // The CA answered over a channel verified against this file a moment ago; a vanished file only loses the merge.
            configuredRoots = [];
        }

        var certificate = CertificateResponseValidator.Validate(chain, identity, csr.SubjectPublicKeyInfo, csr.PrivateKeyPem, configuredRoots, _time.GetUtcNow());
        Install(certificate);
        return certificate;
    }

    /// <summary>When to rotate: at NotAfter − ratio·(NotAfter − received), ratio = GracePeriodRatio ± jitter (pilot-agent's rule).</summary>
    internal DateTimeOffset RotationTime(WorkloadCertificate certificate)
    {
        var ratio = _options.GracePeriodRatio + ((Random.Shared.NextDouble() * 2) - 1) * _options.GracePeriodJitter;
        var remaining = certificate.NotAfter - certificate.ReceivedAt;
        return certificate.NotAfter - (remaining * Math.Clamp(ratio, 0, 1));
    }

    private void Install(WorkloadCertificate certificate)
    {
        Volatile.Write(ref _current, certificate);
        Interlocked.Increment(ref _generation);
        _consecutiveTransientFailures = 0;
        LastError = null;
        NextRotation = RotationTime(certificate);
        _metrics.CertificateInstalled(certificate);
        AgentLog.CertificateInstalled(_logger, certificate.Identity, certificate.SerialNumber, certificate.NotBefore, certificate.NotAfter, NextRotation);
        _first.TrySetResult(certificate);
        CertificateChanged?.Invoke(this, certificate);
    }

    private TimeSpan OnFailure(WorkloadCertificateException ex)
    {
        LastError = ex.Message;
        _metrics.CaError(ex.MetricCode);
        TimeSpan delay;
        var transient = ex.Kind == CertificateFailureKind.LocalConfiguration ||
            (ex.Kind == CertificateFailureKind.CaError && ex.StatusCode is { } code && s_transientCodes.Contains(code));
        if (transient)
        {
            // Capped exponential backoff with ±20% jitter, as ztunnel does.
            var exponent = Math.Min(_consecutiveTransientFailures++, 30);
            var baseDelay = Math.Min(_options.InitialRetryDelay.TotalMilliseconds * Math.Pow(2, exponent), _options.MaxRetryDelay.TotalMilliseconds);
            delay = TimeSpan.FromMilliseconds(Math.Min(baseDelay * (0.8 + (Random.Shared.NextDouble() * 0.4)), _options.MaxRetryDelay.TotalMilliseconds));
            AgentLog.CertificateTransientFailure(_logger, ex.MetricCode, delay, ex.Message);
        }
        else
        {
            // Unauthenticated, InvalidArgument, a wrong answer: retrying soon will not help and would hammer istiod.
            delay = _options.RejectedRetryDelay * (0.9 + (Random.Shared.NextDouble() * 0.2));
            AgentLog.CertificateRejected(_logger, ex.MetricCode, delay, ex.Message);
        }

        if (Current is { } current)
        {
            var now = _time.GetUtcNow();
            if (now >= current.NotAfter)
            {
                AgentLog.CertificateExpired(_logger, current.SerialNumber, current.NotAfter);
            }
            else
            {
                AgentLog.KeepingCurrentCertificate(_logger, current.SerialNumber, current.NotAfter);
            }
        }

        return delay;
    }
}
