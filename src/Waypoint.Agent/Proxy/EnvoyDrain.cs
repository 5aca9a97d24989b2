namespace Waypoint.Agent.Proxy;

/// <summary>
/// The pod's termination drain, driven by the containers' preStop hooks: the first caller starts Envoy's graceful
/// listener drain; every caller returns once the drain period is over, so the kubelet sends SIGTERM only after
/// in-flight streams had their time. Concurrent and repeated calls share the one drain.
/// </summary>
public sealed class EnvoyDrain
{
    private readonly EnvoyAdminClient _admin;
    private readonly TimeSpan _duration;
    private readonly TimeProvider _timeProvider;
    private readonly Lock _lock = new();
    private Task? _drain;

    public EnvoyDrain(EnvoyAdminClient admin, TimeSpan duration, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(admin);
        ArgumentOutOfRangeException.ThrowIfLessThan(duration, TimeSpan.Zero);
        _admin = admin;
        _duration = duration;
        _timeProvider = timeProvider;
    }

    public TimeSpan Duration => _duration;

    public bool Started
    {
        get
        {
            lock (_lock)
            {
                return _drain is not null;
            }
        }
    }

    public Task DrainAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            _drain ??= RunAsync();
            return _drain.WaitAsync(cancellationToken);
        }
    }

    private async Task RunAsync()
    {
        var started = _timeProvider.GetTimestamp();
        try
        {
            await _admin.DrainListenersAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (HttpRequestException)
        {
            // Envoy is already gone: nothing left to drain, but the period still holds the agent (SDS) for the pod.
        }

        var left = _duration - _timeProvider.GetElapsedTime(started);
        if (left > TimeSpan.Zero)
        {
            await Task.Delay(left, _timeProvider).ConfigureAwait(false);
        }
    }
}
