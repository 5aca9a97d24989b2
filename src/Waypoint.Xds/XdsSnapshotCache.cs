using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;

namespace Waypoint.Xds;

/// <summary>
/// The current snapshot of every node group (waypoint). ADS streams observe their group and are woken when it
/// changes; publishing is an atomic swap, readers never see a half-built configuration.
/// </summary>
/// <remarks>
/// Only publishers create entries: there is one per group that has a snapshot, and removing the snapshot removes the
/// entry. A stream observing a group without one (not yet published, or a name a client made up) adds nothing; it
/// waits on one shared signal that fires when any group is first published. So clients cannot grow the cache.
/// </remarks>
public sealed class XdsSnapshotCache
{
    private readonly ConcurrentDictionary<string, GroupEntry> _groups = new(StringComparer.Ordinal);
    private readonly Lock _membership = new();
    private TaskCompletionSource _groupAdded = NewSignal();

    /// <summary>The node groups that currently have a snapshot.</summary>
    public IReadOnlyCollection<string> NodeGroups =>
        _groups.Where(g => g.Value.Current.Snapshot is not null).Select(g => g.Key).ToArray();

    /// <summary>How many groups the cache holds state for (equals the published groups; observers add none).</summary>
    internal int EntryCount => _groups.Count;

    /// <summary>Publishes <paramref name="snapshot"/> for <paramref name="nodeGroup"/> and wakes its streams.</summary>
    public void SetSnapshot(string nodeGroup, XdsSnapshot snapshot)
    {
        ArgumentException.ThrowIfNullOrEmpty(nodeGroup);
        ArgumentNullException.ThrowIfNull(snapshot);
        TaskCompletionSource? added = null;
        GroupEntry entry;
        lock (_membership)
        {
            if (!_groups.TryGetValue(nodeGroup, out entry!))
            {
                entry = new GroupEntry();
                _groups[nodeGroup] = entry;
                added = _groupAdded;
                _groupAdded = NewSignal();
            }

            entry.Publish(snapshot);
        }

        // Wake streams waiting for a group that had no entry; they observe again and find theirs (or wait again).
        added?.TrySetResult();
    }

    /// <summary>
    /// Forgets <paramref name="nodeGroup"/> and its snapshot. Connected Envoys keep what they have; nothing more is
    /// pushed to them until a new snapshot is set.
    /// </summary>
    public bool RemoveSnapshot(string nodeGroup)
    {
        ArgumentException.ThrowIfNullOrEmpty(nodeGroup);
        lock (_membership)
        {
            // Publishing null wakes the group's streams; they then wait on the shared signal.
            return _groups.TryRemove(nodeGroup, out var entry) && entry.Publish(null);
        }
    }

    public bool TryGetSnapshot(string nodeGroup, [NotNullWhen(true)] out XdsSnapshot? snapshot)
    {
        ArgumentNullException.ThrowIfNull(nodeGroup);
        snapshot = _groups.TryGetValue(nodeGroup, out var entry) ? entry.Current.Snapshot : null;
        return snapshot is not null;
    }

    /// <summary>
    /// The group's current snapshot (null when none) and a task that completes when it is replaced. Await the task,
    /// then observe again: no polling.
    /// </summary>
    public XdsSnapshotObservation Observe(string nodeGroup)
    {
        ArgumentException.ThrowIfNullOrEmpty(nodeGroup);
        if (_groups.TryGetValue(nodeGroup, out var entry))
        {
            var state = entry.Current;
            return new XdsSnapshotObservation(state.Snapshot, state.Changed.Task);
        }

        lock (_membership)
        {
            // Under the lock, so a group published between the lookup and here is seen rather than missed.
            if (_groups.TryGetValue(nodeGroup, out entry))
            {
                var state = entry.Current;
                return new XdsSnapshotObservation(state.Snapshot, state.Changed.Task);
            }

            return new XdsSnapshotObservation(null, _groupAdded.Task);
        }
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private sealed class GroupEntry
    {
        private readonly Lock _lock = new();
        private volatile GroupState _current = new(null);

        public GroupState Current => _current;

        public bool Publish(XdsSnapshot? snapshot)
        {
            GroupState previous;
            lock (_lock)
            {
                previous = _current;
                if (ReferenceEquals(previous.Snapshot, snapshot))
                {
                    return false;
                }

                _current = new GroupState(snapshot);
            }

            // Signal after the swap so a woken stream observes the new state.
            previous.Changed.TrySetResult();
            return previous.Snapshot is not null || snapshot is not null;
        }
    }

    private sealed class GroupState(XdsSnapshot? snapshot)
    {
        public XdsSnapshot? Snapshot { get; } = snapshot;

        public TaskCompletionSource Changed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}

/// <summary>What <see cref="XdsSnapshotCache.Observe"/> saw: the snapshot then current and when it stops being current.</summary>
public readonly record struct XdsSnapshotObservation(XdsSnapshot? Snapshot, Task Changed);
