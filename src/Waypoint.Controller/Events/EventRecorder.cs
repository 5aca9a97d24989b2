using System.Globalization;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Waypoint.Controller.Client;

namespace Waypoint.Controller.Events;

/// <summary>The object an Event is about (<c>involvedObject</c>).</summary>
public sealed record EventSubject(string ApiVersion, string Kind, string Namespace, string Name, string? Uid);

/// <summary>
/// Writes core/v1 Events the way client-go's recorder does: <see cref="Record"/> never blocks (a bounded queue, the
/// oldest dropped when full) and a background loop writes. Repeats of the same event (object, type, reason, message)
/// within 10 minutes bump <c>count</c> and <c>lastTimestamp</c> of the first instead of creating another; a per-object
/// token bucket (burst 25, one more every 5 minutes, client-go's defaults) drops a flapping object's excess. A failed
/// write is logged and dropped, never retried forever and never fatal.
/// </summary>
internal sealed class EventRecorder(KubernetesApiClient client, TimeProvider timeProvider, ILogger logger, string reportingInstance)
{
    public const string Normal = "Normal";
    public const string Warning = "Warning";
    public const string Component = "waypoint-controller";

    private static readonly TimeSpan AggregationWindow = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan SpamRefill = TimeSpan.FromMinutes(5);
    private const int SpamBurst = 25;
    private const int MaxRemembered = 4096;

    private readonly Channel<PendingEvent> _queue = Channel.CreateBounded<PendingEvent>(new BoundedChannelOptions(1024)
    {
        FullMode = BoundedChannelFullMode.DropOldest,
        SingleReader = true,
    });

    private readonly Dictionary<(EventSubject Subject, string Type, string Reason, string Message), WrittenEvent> _written = [];
    private readonly Dictionary<EventSubject, TokenBucket> _buckets = [];

    /// <summary>Events written or bumped so far (tests wait on it instead of sleeping).</summary>
    public long Writes => Interlocked.Read(ref _writes);

    private long _writes;
    private long _sequence;

    /// <summary>Queues an Event; returns at once.</summary>
    public void Record(EventSubject subject, string type, string reason, string message)
    {
        ArgumentNullException.ThrowIfNull(subject);
        _queue.Writer.TryWrite(new PendingEvent(subject, type, reason, message.Length > 1024 ? message[..1021] + "..." : message, timeProvider.GetUtcNow()));
    }

    /// <summary>Writes queued Events until cancelled.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        await foreach (var pending in _queue.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            try
            {
                await WriteAsync(pending, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                var s = pending.Subject;
                ControllerLog.EventWriteFailed(logger, pending.Reason, s.Kind, s.Namespace, s.Name, ex);
            }
        }
    }

    private async Task WriteAsync(PendingEvent pending, CancellationToken cancellationToken)
    {
        var subject = pending.Subject;
        var key = (subject, pending.Type, pending.Reason, pending.Message);
        var now = pending.Time;
        if (_written.TryGetValue(key, out var previous) && now - previous.FirstTimestamp < AggregationWindow)
        {
            if (!Allow(subject, pending.Reason, now))
            {
                return;
            }

            var count = previous.Count + 1;
            var patch = new JsonObject { ["count"] = count, ["lastTimestamp"] = Timestamp(now) };
            try
            {
                await client.WriteAsync<JsonObject>(HttpMethod.Patch, $"/api/v1/namespaces/{subject.Namespace}/events/{previous.Name}", patch.ToJsonString(), cancellationToken, "application/merge-patch+json").ConfigureAwait(false);
                _written[key] = previous with { Count = count };
                Interlocked.Increment(ref _writes);
                return;
            }
            catch (KubernetesApiException ex) when (ex.IsNotFound)
            {
                // Expired (the API server keeps Events about an hour) or deleted: start a new one.
            }
        }
        else if (!Allow(subject, pending.Reason, now))
        {
            return;
        }

        // client-go names an Event after its object and the time in nanoseconds, hex; the sequence keeps two
        // Events of the same instant (a coarse clock) apart.
        var name = $"{subject.Name}.{((now.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) * 100) + (++_sequence % 100):x}";
        var involved = new JsonObject
        {
            ["apiVersion"] = subject.ApiVersion,
            ["kind"] = subject.Kind,
            ["namespace"] = subject.Namespace,
            ["name"] = subject.Name,
        };
        if (subject.Uid is not null)
        {
            involved["uid"] = subject.Uid;
        }

        var body = new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Event",
            ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = subject.Namespace },
            ["involvedObject"] = involved,
            ["type"] = pending.Type,
            ["reason"] = pending.Reason,
            ["message"] = pending.Message,
            ["count"] = 1,
            ["firstTimestamp"] = Timestamp(now),
            ["lastTimestamp"] = Timestamp(now),
            ["source"] = new JsonObject { ["component"] = Component },
            ["reportingComponent"] = "waypoint.dev/controller",
            ["reportingInstance"] = reportingInstance,
        };
        await client.WriteAsync<JsonObject>(HttpMethod.Post, $"/api/v1/namespaces/{subject.Namespace}/events", body.ToJsonString(), cancellationToken).ConfigureAwait(false);
        if (_written.Count >= MaxRemembered)
        {
            foreach (var stale in _written.Where(e => now - e.Value.FirstTimestamp >= AggregationWindow).Select(e => e.Key).ToList())
            {
                _written.Remove(stale);
            }
        }

        _written[key] = new WrittenEvent(name, 1, now);
        Interlocked.Increment(ref _writes);
    }

    private bool Allow(EventSubject subject, string reason, DateTimeOffset now)
    {
        if (!_buckets.TryGetValue(subject, out var bucket))
        {
            bucket = new TokenBucket(SpamBurst, now);
        }

        var refilled = Math.Min(SpamBurst, bucket.Tokens + ((now - bucket.Since) / SpamRefill));
        var allowed = refilled >= 1;
        _buckets[subject] = new TokenBucket(allowed ? refilled - 1 : refilled, now);
        if (!allowed)
        {
            ControllerLog.EventSuppressed(logger, reason, subject.Kind, subject.Namespace, subject.Name);
        }

        return allowed;
    }

    private static string Timestamp(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private sealed record PendingEvent(EventSubject Subject, string Type, string Reason, string Message, DateTimeOffset Time);

    private sealed record WrittenEvent(string Name, int Count, DateTimeOffset FirstTimestamp);

    private readonly record struct TokenBucket(double Tokens, DateTimeOffset Since);
}
