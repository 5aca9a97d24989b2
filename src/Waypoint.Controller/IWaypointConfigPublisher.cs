using Waypoint.Translator;
using Waypoint.Translator.Model;

namespace Waypoint.Controller;

/// <summary>
/// Where the controller hands each new cluster view (the host connects it to the translator/xDS server).
/// Called on every replica, leader or not, first after the initial sync of all informers, then after changes
/// (debounced). Calls never overlap; versions increase.
/// </summary>
public interface IWaypointConfigPublisher
{
    /// <remarks>An exception is logged and the next change publishes again; the previous configuration stays in place.</remarks>
    ValueTask PublishAsync(WaypointConfigUpdate update, CancellationToken cancellationToken);
}

/// <summary>
/// One published cluster view and its translation (Envoy resources per waypoint, computed statuses).
/// Both are immutable and shared: never mutate them.
/// </summary>
public sealed record WaypointConfigUpdate(long Version, ClusterSnapshot Snapshot, TranslationResult Translation, DateTimeOffset CreatedAt);

/// <summary>The default publisher when the host registers none: keeps the latest update for inspection.</summary>
public sealed class InMemoryWaypointConfigPublisher : IWaypointConfigPublisher
{
    private volatile WaypointConfigUpdate? _latest;

    public WaypointConfigUpdate? Latest => _latest;

    public ValueTask PublishAsync(WaypointConfigUpdate update, CancellationToken cancellationToken)
    {
        _latest = update;
        return ValueTask.CompletedTask;
    }
}
