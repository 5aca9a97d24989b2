namespace Waypoint.Controller;

/// <summary>
/// For a readiness probe: the controller is ready once every informer synced and its first snapshot was published,
/// so an Envoy connecting to this replica gets its configuration rather than an empty one.
/// </summary>
public sealed class WaypointControllerReadiness
{
    private readonly WaypointController _controller;

    internal WaypointControllerReadiness(WaypointController controller) => _controller = controller;

    public bool IsReady => _controller.Started.IsCompletedSuccessfully;
}
