using Microsoft.Extensions.Logging;

namespace Waypoint.Controller;

internal static partial class ControllerLog
{
    [LoggerMessage(1, LogLevel.Debug, "Listed {Count} {Resource} at resourceVersion {ResourceVersion}.", EventName = "Listed")]
    public static partial void Listed(ILogger logger, string resource, int count, string? resourceVersion);

    [LoggerMessage(2, LogLevel.Information, "The watch of {Resource} expired at resourceVersion {ResourceVersion} (410 Gone); relisting.", EventName = "WatchExpired")]
    public static partial void WatchExpired(ILogger logger, string resource, string? resourceVersion);

    [LoggerMessage(3, LogLevel.Warning, "Watching {Resource} failed; retrying in about {Backoff}.", EventName = "InformerError")]
    public static partial void InformerError(ILogger logger, string resource, TimeSpan backoff, Exception exception);

    [LoggerMessage(4, LogLevel.Warning, "Skipped a malformed {Resource} watch event: {Problem}", EventName = "MalformedWatchEvent")]
    public static partial void MalformedWatchEvent(ILogger logger, string resource, string problem);

    [LoggerMessage(5, LogLevel.Warning, "The watch of {Resource} returned an error event {Code}: {Message}", EventName = "WatchErrorEvent")]
    public static partial void WatchErrorEvent(ILogger logger, string resource, int code, string message);

    [LoggerMessage(6, LogLevel.Information, "The API server does not serve {Resource} (CRD not installed); watching it once it appears.", EventName = "ResourceNotServed")]
    public static partial void ResourceNotServed(ILogger logger, string resource);

    [LoggerMessage(7, LogLevel.Information, "The API server now serves {Resource}.", EventName = "ResourceServed")]
    public static partial void ResourceServed(ILogger logger, string resource);

    [LoggerMessage(9, LogLevel.Warning, "Listing {Resource} is forbidden (403); treating it as empty and trying again later. Grant list/watch on it to use it.", EventName = "ResourceForbidden")]
    public static partial void ResourceForbidden(ILogger logger, string resource);

    [LoggerMessage(8, LogLevel.Error, "An event handler for {Resource} failed.", EventName = "HandlerFailed")]
    public static partial void HandlerFailed(ILogger logger, string resource, Exception exception);

    [LoggerMessage(9, LogLevel.Warning, "The watch of {Resource} delivered nothing (no event, no bookmark) for {IdleTimeout}; restarting it from resourceVersion {ResourceVersion}.", EventName = "WatchIdle")]
    public static partial void WatchIdle(ILogger logger, string resource, TimeSpan idleTimeout, string? resourceVersion);

    [LoggerMessage(20, LogLevel.Information, "'{Identity}' became the leader (Lease '{Lease}').", EventName = "BecameLeader")]
    public static partial void BecameLeader(ILogger logger, string identity, string lease);

    [LoggerMessage(21, LogLevel.Information, "'{Identity}' stopped leading (Lease '{Lease}').", EventName = "StoppedLeading")]
    public static partial void StoppedLeading(ILogger logger, string identity, string lease);

    [LoggerMessage(22, LogLevel.Warning, "Reading or writing Lease '{Lease}' failed.", EventName = "LeaseError")]
    public static partial void LeaseError(ILogger logger, string lease, Exception exception);

    [LoggerMessage(23, LogLevel.Information, "'{Leader}' leads (Lease '{Lease}').", EventName = "NewLeader")]
    public static partial void NewLeader(ILogger logger, string leader, string lease);

    [LoggerMessage(24, LogLevel.Warning, "Could not release Lease '{Lease}'.", EventName = "LeaseReleaseFailed")]
    public static partial void LeaseReleaseFailed(ILogger logger, string lease, Exception exception);

    [LoggerMessage(25, LogLevel.Critical, "The controller's {Loop} loop stopped unexpectedly; stopping the process (crash-only).", EventName = "LoopFailed")]
    public static partial void LoopFailed(ILogger logger, string loop, Exception? exception);

    [LoggerMessage(30, LogLevel.Information, "Informers synced in {ElapsedMs} ms.", EventName = "InformersSynced")]
    public static partial void InformersSynced(ILogger logger, long elapsedMs);

    [LoggerMessage(31, LogLevel.Debug, "Published snapshot {Version} ({Gateways} gateways, {Routes} routes, {Services} services).", EventName = "SnapshotPublished")]
    public static partial void SnapshotPublished(ILogger logger, long version, int gateways, int routes, int services);

    [LoggerMessage(32, LogLevel.Error, "Publishing snapshot {Version} failed; the previous configuration stays in place.", EventName = "PublishFailed")]
    public static partial void PublishFailed(ILogger logger, long version, Exception exception);

    [LoggerMessage(33, LogLevel.Error, "Translating waypoint {Waypoint} failed (attempt {Attempt}); it keeps its last good configuration and is retried in {RetryIn}.", EventName = "WaypointTranslationFailed")]
    public static partial void WaypointTranslationFailed(ILogger logger, string waypoint, int attempt, TimeSpan retryIn, Exception exception);

    [LoggerMessage(34, LogLevel.Warning, "Envoy (node {NodeId}, waypoint {Waypoint}) rejected {TypeUrl}: {Message}. Reporting it on {Objects}.", EventName = "EnvoyRejected")]
    public static partial void EnvoyRejected(ILogger logger, string nodeId, string waypoint, string typeUrl, string message, string objects);

    [LoggerMessage(40, LogLevel.Debug, "Reconciled {Key}.", EventName = "Reconciled")]
    public static partial void Reconciled(ILogger logger, string key);

    [LoggerMessage(41, LogLevel.Warning, "Reconciling {Key} failed (attempt {Attempt}); retrying with backoff.", EventName = "ReconcileFailed")]
    public static partial void ReconcileFailed(ILogger logger, string key, int attempt, Exception exception);

    [LoggerMessage(42, LogLevel.Information, "Created {Resource} {Namespace}/{Name}.", EventName = "ObjectCreated")]
    public static partial void ObjectCreated(ILogger logger, string resource, string? @namespace, string name);

    [LoggerMessage(43, LogLevel.Information, "Updated {Resource} {Namespace}/{Name}.", EventName = "ObjectUpdated")]
    public static partial void ObjectUpdated(ILogger logger, string resource, string? @namespace, string name);

    [LoggerMessage(44, LogLevel.Debug, "Wrote the status of {Resource} {Key}.", EventName = "StatusWritten")]
    public static partial void StatusWritten(ILogger logger, string resource, string key);

    [LoggerMessage(45, LogLevel.Warning, "{Resource} {Namespace}/{Name} exists and is not owned by Gateway {Gateway}; leaving it alone.", EventName = "ObjectNotOwned")]
    public static partial void ObjectNotOwned(ILogger logger, string resource, string? @namespace, string name, string gateway);

    [LoggerMessage(50, LogLevel.Warning, "Debug API request {Path} refused: {Reason}", EventName = "DebugAccessDenied")]
    public static partial void DebugAccessDenied(ILogger logger, string path, string reason);

    [LoggerMessage(51, LogLevel.Warning, "Could not check a debug API caller with the API server (TokenReview/SubjectAccessReview).", EventName = "DebugAccessReviewFailed")]
    public static partial void DebugAccessReviewFailed(ILogger logger, Exception exception);

    [LoggerMessage(52, LogLevel.Warning, "Could not write Event {Reason} on {Kind} {Namespace}/{Name}; it is dropped.", EventName = "EventWriteFailed")]
    public static partial void EventWriteFailed(ILogger logger, string reason, string kind, string @namespace, string name, Exception exception);

    [LoggerMessage(53, LogLevel.Debug, "Event {Reason} on {Kind} {Namespace}/{Name} suppressed (spam filter).", EventName = "EventSuppressed")]
    public static partial void EventSuppressed(ILogger logger, string reason, string kind, string @namespace, string name);

    [LoggerMessage(54, LogLevel.Information, "Compacted the heap after the first publish: GC committed {BeforeMegabytes} → {AfterMegabytes} MiB, heap {HeapMegabytes} MiB, in {Milliseconds} ms.", EventName = "HeapCompacted")]
    public static partial void HeapCompacted(ILogger logger, long beforeMegabytes, long afterMegabytes, long heapMegabytes, long milliseconds);
}
