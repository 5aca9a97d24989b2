using System.Collections.Concurrent;

namespace Waypoint.Xds.Diagnostics;

/// <summary>A configuration Envoy rejected: who, which type and version, and Envoy's reason.</summary>
public sealed record XdsNackRecord(
    string NodeId,
    string NodeGroup,
    string TypeUrl,
    string Version,
    string Nonce,
    int ErrorCode,
    string ErrorMessage,
    DateTimeOffset Time);

/// <summary>A NACK and the resources of the response Envoy rejected (the whole set for SotW, the changes for delta).</summary>
public sealed record XdsNackEvent(XdsNackRecord Nack, IReadOnlyList<XdsResource> Rejected);

/// <summary>One type on one ADS stream, as last seen.</summary>
public sealed record XdsTypeStatus(
    string TypeUrl,
    bool Wildcard,
    IReadOnlyList<string> ResourceNames,
    string? LastSentVersion,
    string? LastSentNonce,
    string? LastAckedVersion,
    XdsNackRecord? LastNack,
    long Pushes);

/// <summary>
/// The verified client certificate a stream was opened with (mutual TLS): the agent's workload certificate, so its
/// validity shows whether the waypoint's certificate rotation works.
/// </summary>
public sealed record XdsClientCertificate(string Identity, DateTimeOffset NotBefore, DateTimeOffset NotAfter);

/// <summary>One connected ADS stream.</summary>
/// <param name="ClientCertificate">Null over plaintext.</param>
public sealed record XdsStreamInfo(
    long StreamId,
    string NodeId,
    string NodeGroup,
    XdsProtocol Protocol,
    DateTimeOffset ConnectedAt,
    IReadOnlyList<XdsTypeStatus> Types,
    XdsClientCertificate? ClientCertificate = null);

/// <summary>
/// What the xDS server knows about its clients: connected streams with per-type sent/ACKed versions, and the NACKs
/// Envoys reported. Backs the debug endpoint; tests await conditions on it with <see cref="WaitUntilAsync"/>.
/// </summary>
public sealed class XdsServerStatus
{
    private const int MaxNackHistory = 256;

    private readonly ConcurrentDictionary<long, StreamStatus> _streams = new();
    private readonly ConcurrentDictionary<(string NodeId, string TypeUrl), XdsNackRecord> _lastNacks = new();
    private readonly Queue<XdsNackRecord> _nackHistory = new();
    private readonly Lock _lock = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _nextStreamId;

    /// <summary>
    /// Raised for every NACK, on the stream's loop right after it is recorded: in-process consumers (the controller
    /// feeding Envoy's errors back into status) subscribe here. Handlers must be quick and must not throw.
    /// </summary>
    public event Action<XdsNackEvent>? Nacked;

    /// <summary>The connected streams.</summary>
    public IReadOnlyList<XdsStreamInfo> GetStreams() =>
        _streams.Values.Select(s => s.ToInfo()).OrderBy(s => s.StreamId).ToArray();

    /// <summary>The streams of one node id (several while Envoy reconnects).</summary>
    public IReadOnlyList<XdsStreamInfo> GetStreams(string nodeId) =>
        GetStreams().Where(s => s.NodeId == nodeId).ToArray();

    /// <summary>Recent NACKs, oldest first (bounded history).</summary>
    public IReadOnlyList<XdsNackRecord> GetNacks()
    {
        lock (_lock)
        {
            return _nackHistory.ToArray();
        }
    }

    /// <summary>The last NACK of <paramref name="typeUrl"/> by <paramref name="nodeId"/>, kept after its stream ends.</summary>
    public XdsNackRecord? GetLastNack(string nodeId, string typeUrl) =>
        _lastNacks.TryGetValue((nodeId, typeUrl), out var record) ? record : null;

    /// <summary>The version of <paramref name="typeUrl"/> that <paramref name="nodeId"/> last ACKed on any live stream.</summary>
    public string? GetAckedVersion(string nodeId, string typeUrl) =>
        GetStreams(nodeId).SelectMany(s => s.Types).Where(t => t.TypeUrl == typeUrl).Select(t => t.LastAckedVersion).LastOrDefault(v => v is not null);

    /// <summary>Completes once <paramref name="condition"/> holds; re-evaluated on every status change, never polled.</summary>
    public async Task WaitUntilAsync(Func<XdsServerStatus, bool> condition, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(condition);
        while (true)
        {
            Task changed;
            lock (_lock)
            {
                changed = _changed.Task;
            }

            if (condition(this))
            {
                return;
            }

            await changed.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    internal StreamStatus Register(string nodeId, string nodeGroup, XdsProtocol protocol, DateTimeOffset now, XdsClientCertificate? certificate = null)
    {
        var status = new StreamStatus(this, Interlocked.Increment(ref _nextStreamId), nodeId, nodeGroup, protocol, now, certificate);
        _streams[status.StreamId] = status;
        NotifyChanged();
        return status;
    }

    internal void Unregister(StreamStatus status)
    {
        _streams.TryRemove(status.StreamId, out _);
        NotifyChanged();
    }

    internal void RecordNack(XdsNackRecord record, IReadOnlyList<XdsResource> rejected)
    {
        _lastNacks[(record.NodeId, record.TypeUrl)] = record;
        lock (_lock)
        {
            _nackHistory.Enqueue(record);
            while (_nackHistory.Count > MaxNackHistory)
            {
                _nackHistory.Dequeue();
            }
        }

        NotifyChanged();
        Nacked?.Invoke(new XdsNackEvent(record, rejected));
    }

    internal void NotifyChanged()
    {
        TaskCompletionSource previous;
        lock (_lock)
        {
            previous = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        previous.TrySetResult();
    }

    /// <summary>Mutable per-stream status, written only by its stream's loop.</summary>
    internal sealed class StreamStatus(XdsServerStatus owner, long streamId, string nodeId, string nodeGroup, XdsProtocol protocol, DateTimeOffset connectedAt, XdsClientCertificate? certificate)
    {
        private readonly Dictionary<string, XdsTypeStatus> _types = new(StringComparer.Ordinal);
        private readonly Lock _lock = new();

        public long StreamId { get; } = streamId;

        public string NodeId { get; } = nodeId;

        public string NodeGroup { get; } = nodeGroup;

        public void Update(string typeUrl, Func<XdsTypeStatus, XdsTypeStatus> update)
        {
            lock (_lock)
            {
                var current = _types.TryGetValue(typeUrl, out var existing)
                    ? existing
                    : new XdsTypeStatus(typeUrl, false, [], null, null, null, null, 0);
                _types[typeUrl] = update(current);
            }

            owner.NotifyChanged();
        }

        public XdsStreamInfo ToInfo()
        {
            lock (_lock)
            {
                return new XdsStreamInfo(StreamId, NodeId, NodeGroup, protocol, connectedAt,
                    _types.Values.OrderBy(t => XdsTypeUrls.IndexOf(t.TypeUrl)).ToArray(), certificate);
            }
        }
    }
}
