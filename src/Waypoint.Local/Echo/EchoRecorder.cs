using System.Collections.Concurrent;

namespace Waypoint.Local.Echo;

/// <summary>
/// Shared by every echo app of a rig: remembers the latest requests they served (for tests and <c>waypoint local</c>
/// output) and the per-key attempt counters behind "fail N times, then succeed".
/// </summary>
public sealed class EchoRecorder
{
    private readonly ConcurrentQueue<EchoReply> _replies = new();
    private readonly ConcurrentDictionary<string, int> _attempts = new(StringComparer.Ordinal);
    private readonly int _capacity;
    private long _total;

    public EchoRecorder(int capacity = 20_000)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        _capacity = capacity;
    }

    /// <summary>Requests served since start (not bounded by the capacity).</summary>
    public long Total => Interlocked.Read(ref _total);

    /// <summary>Raised after each request is recorded.</summary>
    public event Action<EchoReply>? Recorded;

    /// <summary>The remembered requests, oldest first.</summary>
    public IReadOnlyList<EchoReply> Snapshot() => _replies.ToArray();

    /// <summary>Remembered requests that carry <paramref name="header"/> = <paramref name="value"/>.</summary>
    public IReadOnlyList<EchoReply> WithHeader(string header, string value) =>
        _replies.Where(r => string.Equals(r.Header(header), value, StringComparison.Ordinal)).ToArray();

    /// <summary>Completes when a request matching <paramref name="predicate"/> has been (or is) recorded.</summary>
    public async Task<EchoReply> WaitForAsync(Func<EchoReply, bool> predicate, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(predicate);
        var found = new TaskCompletionSource<EchoReply>(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnRecorded(EchoReply reply)
        {
            if (predicate(reply))
            {
                found.TrySetResult(reply);
            }
        }

        Recorded += OnRecorded;
        try
        {
            var existing = _replies.FirstOrDefault(predicate);
            if (existing is not null)
            {
                return existing;
            }

            return await found.Task.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Recorded -= OnRecorded;
        }
    }

    /// <summary>Counts one attempt for <paramref name="key"/> and returns its 1-based number.</summary>
    internal int NextAttempt(string key) => _attempts.AddOrUpdate(key, 1, (_, n) => n + 1);

    internal void Record(EchoReply reply)
    {
        _replies.Enqueue(reply);
        Interlocked.Increment(ref _total);
        while (_replies.Count > _capacity && _replies.TryDequeue(out _))
        {
        }

        Recorded?.Invoke(reply);
    }
}
