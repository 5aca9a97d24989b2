using System.Collections.Concurrent;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging;

namespace Waypoint.Box.Services;

/// <summary>
/// A cache of one resource kind across all namespaces: list, then watch from the list's resourceVersion; a watch that
/// ends is resumed from the last resourceVersion seen (bookmarks included); a failure (410 Gone among them) lists
/// again after a short pause. <c>changed</c> is called after every change to the cache; it must be quick.
/// </summary>
internal sealed class ResourceMirror<T>
    where T : class, IKubernetesObject<V1ObjectMeta>
{
    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(1);
    private readonly string _kind;
    private readonly Func<CancellationToken, Task<(IList<T> Items, string? ResourceVersion)>> _list;
    private readonly Func<string?, CancellationToken, IAsyncEnumerable<(WatchEventType, T)>> _watch;
    private readonly Action _changed;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, T> _items = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource _synced = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public ResourceMirror(
        string kind,
        Func<CancellationToken, Task<(IList<T> Items, string? ResourceVersion)>> list,
        Func<string?, CancellationToken, IAsyncEnumerable<(WatchEventType, T)>> watch,
        Action changed,
        ILogger logger,
        TimeProvider time)
    {
        _kind = kind;
        _list = list;
        _watch = watch;
        _changed = changed;
        _logger = logger;
        _time = time;
    }

    public ICollection<T> Items => _items.Values;

    public Task Synced => _synced.Task;

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        string? resourceVersion = null;
        var needList = true;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                if (needList)
                {
                    var (items, version) = await _list(cancellationToken).ConfigureAwait(false);
                    Replace(items);
                    resourceVersion = version;
                    needList = false;
                    ServiceProxyLog.Listed(_logger, _kind, items.Count, version);
                    _synced.TrySetResult();
                    _changed();
                }

                await foreach (var (type, item) in _watch(resourceVersion, cancellationToken).ConfigureAwait(false))
                {
                    // An ERROR event (410 Gone: the resourceVersion is too old) carries a Status, not an object: list again.
                    if (type is WatchEventType.Error)
                    {
                        needList = true;
                        break;
                    }

                    resourceVersion = item?.Metadata?.ResourceVersion ?? resourceVersion;
                    if (item?.Metadata?.Name is null || type is WatchEventType.Bookmark)
                    {
                        continue;
                    }

                    if (type is WatchEventType.Deleted)
                    {
                        _items.TryRemove(Key(item), out _);
                    }
                    else
                    {
                        _items[Key(item)] = item;
                    }

                    _changed();
                }
            }
            catch (Exception) when (cancellationToken.IsCancellationRequested)
            {
                // Stopping: whatever the cancelled request threw.
                return;
            }
            catch (Exception ex)
            {
                ServiceProxyLog.WatchFailed(_logger, _kind, ex);
                needList = true;
                try
                {
                    await Task.Delay(RetryDelay, _time, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private void Replace(IList<T> items)
    {
        var keys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var item in items)
        {
            keys.Add(Key(item));
            _items[Key(item)] = item;
        }

        foreach (var key in _items.Keys.Where(k => !keys.Contains(k)).ToList())
        {
            _items.TryRemove(key, out _);
        }
    }

    private static string Key(T item) => $"{item.Metadata.NamespaceProperty}/{item.Metadata.Name}";
}
