namespace Waypoint.Controller.Queues;

/// <summary>
/// A de-duplicating work queue with per-item exponential backoff, after client-go's workqueue: an item added while
/// queued is queued once; an item added while being processed is queued again only after <see cref="Done"/>,
/// so no two workers ever reconcile the same key at once. Reports how long each item waited, from being queued to
/// being taken, as client-go's <c>workqueue_queue_duration_seconds</c>.
/// </summary>
internal sealed class WorkQueue<T> : IDisposable
    where T : notnull
{
    private readonly Lock _lock = new();
    private readonly Queue<T> _queue = new();
    private readonly HashSet<T> _dirty = new();
    private readonly HashSet<T> _processing = new();
    private readonly Dictionary<T, int> _failures = new();
    private readonly Dictionary<T, long> _queuedAt = new();
    private readonly Action<TimeSpan>? _waited;
    private readonly SemaphoreSlim _available = new(0);
    private readonly TimeProvider _timeProvider;
    private readonly TimeSpan _baseDelay;
    private readonly TimeSpan _maxDelay;
    private bool _shutDown;

    public WorkQueue(TimeProvider timeProvider, TimeSpan? baseDelay = null, TimeSpan? maxDelay = null, Action<TimeSpan>? waited = null)
    {
        _timeProvider = timeProvider;
        _waited = waited;
        _baseDelay = baseDelay ?? TimeSpan.FromMilliseconds(50);
        _maxDelay = maxDelay ?? TimeSpan.FromMinutes(2);
    }

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _queue.Count;
            }
        }
    }

    public void Add(T item)
    {
        lock (_lock)
        {
            if (_shutDown || !_dirty.Add(item) || _processing.Contains(item))
            {
                return;
            }

            Enqueue(item);
        }

        _available.Release();
    }

    public void AddAfter(T item, TimeSpan delay)
    {
        if (delay <= TimeSpan.Zero)
        {
            Add(item);
            return;
        }

        ITimer? timer = null;
        timer = _timeProvider.CreateTimer(
            _ =>
            {
                Add(item);
                timer?.Dispose();
            },
            null,
            delay,
            Timeout.InfiniteTimeSpan);
    }

    /// <summary>Re-queues after a failure, waiting base×2^failures (capped).</summary>
    public void AddRateLimited(T item)
    {
        int failures;
        lock (_lock)
        {
            _failures.TryGetValue(item, out failures);
            _failures[item] = failures + 1;
        }

        var delay = TimeSpan.FromTicks((long)Math.Min(_baseDelay.Ticks * Math.Pow(2, Math.Min(failures, 30)), _maxDelay.Ticks));
        AddAfter(item, delay);
    }

    /// <summary>Clears the failure count after a success.</summary>
    public void Forget(T item)
    {
        lock (_lock)
        {
            _failures.Remove(item);
        }
    }

    public int Failures(T item)
    {
        lock (_lock)
        {
            return _failures.GetValueOrDefault(item);
        }
    }

    /// <summary>Waits for an item; the caller owns it until <see cref="Done"/>. Returns false after shutdown.</summary>
    public async Task<(bool Ok, T Item)> TryGetAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            await _available.WaitAsync(cancellationToken).ConfigureAwait(false);
            lock (_lock)
            {
                if (_shutDown)
                {
                    _available.Release();
                    return (false, default!);
                }

                if (_queue.TryDequeue(out var item))
                {
                    _processing.Add(item);
                    _dirty.Remove(item);
                    if (_queuedAt.Remove(item, out var queuedAt))
                    {
                        _waited?.Invoke(_timeProvider.GetElapsedTime(queuedAt));
                    }

                    return (true, item);
                }
            }
        }
    }

    public void Done(T item)
    {
        var requeue = false;
        lock (_lock)
        {
            _processing.Remove(item);
            if (_dirty.Contains(item) && !_shutDown)
            {
                Enqueue(item);
                requeue = true;
            }
        }

        if (requeue)
        {
            _available.Release();
        }
    }

    /// <summary>Wakes the waiting worker once; later calls, and calls after <see cref="Dispose"/>, do nothing.</summary>
    public void ShutDown()
    {
        lock (_lock)
        {
            if (_shutDown)
            {
                return;
            }

            _shutDown = true;
        }

        _available.Release();
    }

    /// <summary>Shuts the queue down, then frees it; safe to call more than once (a host may dispose its services twice).</summary>
    public void Dispose()
    {
        ShutDown();
        _available.Dispose();
    }

    /// <summary>Queues <paramref name="item"/> and notes when; under the lock.</summary>
    private void Enqueue(T item)
    {
        _queue.Enqueue(item);
        _queuedAt[item] = _timeProvider.GetTimestamp();
    }
}
