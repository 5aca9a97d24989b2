using System.Collections.Concurrent;
using System.Threading.Channels;

namespace Waypoint.Node.Streaming;

/// <summary>
/// The server side of a SPDY/3.1 connection, as Kubernetes' streaming clients (moby/spdystream) use it: the client
/// opens streams (odd ids) with SYN_STREAM and headers; each is answered with an empty SYN_REPLY by whoever takes it
/// from <see cref="IncomingStreams"/>; data frames flow both ways and FIN half-closes a direction; RST_STREAM ends a
/// stream; PINGs are echoed; GOAWAY is sent when the server ends the connection. SETTINGS and WINDOW_UPDATE are read
/// and ignored (the Go peers send data without waiting for windows, and so does this server).
/// </summary>
internal sealed class SpdyConnection : IAsyncDisposable
{
    /// <summary>The largest frame read: data frames from Go peers are at most 64 KiB; header blocks a few hundred bytes.</summary>
    public const int MaxFramePayload = 1 << 20;

    /// <summary>Data frames written carry at most this much.</summary>
    public const int MaxDataFrame = 32 * 1024;

    private readonly Stream _transport;
    private readonly SemaphoreSlim _writing = new(1, 1);
    private readonly SpdyHeaderCompressor _compressor = new();
    private readonly SpdyHeaderDecompressor _decompressor = new();
    private readonly ConcurrentDictionary<uint, SpdyStream> _streams = new();
    private readonly Channel<SpdyStream> _incoming = Channel.CreateUnbounded<SpdyStream>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private uint _lastStreamId;
    private int _goAwaySent;

    private readonly Microsoft.Extensions.Logging.ILogger _logger;

    public SpdyConnection(Stream transport, Microsoft.Extensions.Logging.ILogger logger)
    {
        _transport = transport;
        _logger = logger;
    }

    /// <summary>The streams the client opens, in order; completed when the connection ends.</summary>
    public ChannelReader<SpdyStream> IncomingStreams => _incoming.Reader;

    /// <summary>Reads frames until the client closes the connection (or it breaks); then every stream's input ends.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                var frame = await SpdyFrame.ReadAsync(_transport, MaxFramePayload, cancellationToken).ConfigureAwait(false);
                if (frame is not { } f)
                {
                    return;
                }

                if (_logger.IsEnabled(Microsoft.Extensions.Logging.LogLevel.Debug))
                {
                    StreamingLog.SpdyFrame(_logger, "read", f);
                }

                await HandleAsync(f, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or OperationCanceledException or ObjectDisposedException)
        {
            // The client went away, broke the protocol, or the session is ending: the connection ends either way.
            if (_logger.IsEnabled(Microsoft.Extensions.Logging.LogLevel.Information))
            {
                var reason = ex is OperationCanceledException && cancellationToken.IsCancellationRequested
                    ? "the session is over"
                    : ex.GetType().Name + ": " + ex.Message;
                StreamingLog.SpdyConnectionEnded(_logger, reason);
            }
        }
        finally
        {
            _incoming.Writer.TryComplete();
            foreach (var stream in _streams.Values)
            {
                stream.EndInput(reset: true);
            }
        }
    }

    private async Task HandleAsync(SpdyFrame frame, CancellationToken cancellationToken)
    {
        if (!frame.IsControl)
        {
            if (_streams.TryGetValue(frame.StreamId, out var target))
            {
                target.Deliver(frame.Payload, frame.Fin);
            }

            return;
        }

        switch (frame.Type)
        {
            case SpdyFrameType.SynStream:
                {
                    if (frame.Payload.Length < 10)
                    {
                        throw new InvalidDataException("A SYN_STREAM shorter than its fixed fields.");
                    }

                    // Every header block goes through the one inflater, in order, even when the stream is refused.
                    var id = frame.ControlStreamId;
                    var headers = _decompressor.Decompress(frame.Payload.AsSpan(10));
                    if (_logger.IsEnabled(Microsoft.Extensions.Logging.LogLevel.Information))
                    {
                        var named = string.Join(", ", headers.Values.Select(h => h.Key + "=" + string.Join('|', h.Value)));
                        StreamingLog.SpdyStreamOpened(_logger, id, named);
                    }
                    if (id == 0 || id % 2 == 0 || id <= _lastStreamId)
                    {
                        await ResetAsync(id, SpdyStatus.ProtocolError, cancellationToken).ConfigureAwait(false);
                        return;
                    }

                    _lastStreamId = id;
                    var stream = new SpdyStream(this, id, headers);
                    _streams[id] = stream;
                    if (frame.Fin)
                    {
                        stream.EndInput(reset: false);
                    }

                    await _incoming.Writer.WriteAsync(stream, cancellationToken).ConfigureAwait(false);
                    return;
                }

            case SpdyFrameType.SynReply:
            case SpdyFrameType.Headers:
                if (frame.Payload.Length >= 4)
                {
                    _decompressor.Decompress(frame.Payload.AsSpan(4));
                }

                return;
            case SpdyFrameType.RstStream:
                if (_streams.TryRemove(frame.ControlStreamId, out var reset))
                {
                    reset.EndInput(reset: true);
                    reset.MarkReset();
                }

                return;
            case SpdyFrameType.Ping:
                await WriteAsync(SpdyFrame.Control(SpdyFrameType.Ping, 0, frame.Payload), cancellationToken).ConfigureAwait(false);
                return;
            default:
                return; // SETTINGS, WINDOW_UPDATE, GOAWAY (the client closes the connection after it) and unknown types.
        }
    }

    /// <summary>Accepts a stream: an empty SYN_REPLY.</summary>
    public Task ReplyAsync(SpdyStream stream, CancellationToken cancellationToken) =>
        WriteHeadersAsync(stream.Id, cancellationToken);

    private async Task WriteHeadersAsync(uint streamId, CancellationToken cancellationToken)
    {
        await _writing.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // Compressed under the write lock: the peer inflates the blocks in the order the frames arrive.
            var block = _compressor.Compress(SpdyHeaderBlock.Encode([]));
            var frame = SpdyFrame.Control(SpdyFrameType.SynReply, 0, SpdyFrame.StreamHeadersPayload(streamId, block));
            LogWritten(frame);
            await _transport.WriteAsync(frame.Encode(), cancellationToken).ConfigureAwait(false);
            await _transport.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _writing.Release();
        }
    }

    public Task ResetAsync(uint streamId, SpdyStatus status, CancellationToken cancellationToken)
    {
        if (_streams.TryRemove(streamId, out var stream))
        {
            stream.EndInput(reset: true);
        }

        return WriteAsync(SpdyFrame.Control(SpdyFrameType.RstStream, 0, SpdyFrame.TwoWords(streamId, (uint)status)), cancellationToken);
    }

    /// <summary>Data for a stream, in frames of at most <see cref="MaxDataFrame"/>; <paramref name="fin"/> half-closes it after.</summary>
    public async Task SendDataAsync(uint streamId, ReadOnlyMemory<byte> data, bool fin, CancellationToken cancellationToken)
    {
        do
        {
            var chunk = data[..Math.Min(data.Length, MaxDataFrame)];
            data = data[chunk.Length..];
            await WriteAsync(SpdyFrame.Data(streamId, chunk.Span, fin && data.IsEmpty), cancellationToken).ConfigureAwait(false);
        }
        while (!data.IsEmpty);
    }

    /// <summary>Tells the client no more streams are taken (GOAWAY, status OK), once.</summary>
    public async Task GoAwayAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _goAwaySent, 1) == 0)
        {
            await WriteAsync(SpdyFrame.Control(SpdyFrameType.GoAway, 0, SpdyFrame.TwoWords(_lastStreamId, 0)), cancellationToken).ConfigureAwait(false);
        }
    }

    internal void Forget(uint streamId) => _streams.TryRemove(streamId, out _);

    private void LogWritten(SpdyFrame frame)
    {
        if (_logger.IsEnabled(Microsoft.Extensions.Logging.LogLevel.Debug))
        {
            StreamingLog.SpdyFrame(_logger, "written", frame);
        }
    }

    private async Task WriteAsync(SpdyFrame frame, CancellationToken cancellationToken)
    {
        LogWritten(frame);
        var bytes = frame.Encode();
        await _writing.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await _transport.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
            await _transport.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _writing.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        _decompressor.Dispose();
        await _transport.DisposeAsync().ConfigureAwait(false);
        _writing.Dispose();
    }
}

/// <summary>RST_STREAM status codes (draft 3, section 2.6.2).</summary>
internal enum SpdyStatus : uint
{
    ProtocolError = 1,
    InvalidStream = 2,
    RefusedStream = 3,
    Cancel = 5,
    InternalError = 6,
}

/// <summary>
/// One stream of a <see cref="SpdyConnection"/>: its SYN_STREAM headers, the client's data (read in order; ends at
/// its FIN, a reset or the connection's end) and our side (data frames, FIN on <see cref="CloseWriteAsync"/>).
/// </summary>
internal sealed class SpdyStream
{
    private readonly SpdyConnection _connection;
    private readonly Channel<byte[]> _input = Channel.CreateUnbounded<byte[]>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private byte[]? _current;
    private int _offset;
    private int _writeClosed;
    private volatile bool _reset;

    public SpdyStream(SpdyConnection connection, uint id, SpdyHeaders headers)
    {
        _connection = connection;
        Id = id;
        Headers = headers;
    }

    public uint Id { get; }

    public SpdyHeaders Headers { get; }

    /// <summary>Whether the client reset the stream or the connection ended before our side was closed.</summary>
    public bool WasReset => _reset;

    internal void Deliver(byte[] data, bool fin)
    {
        if (data.Length > 0)
        {
            _input.Writer.TryWrite(data);
        }

        if (fin)
        {
            _input.Writer.TryComplete();
        }
    }

    internal void EndInput(bool reset)
    {
        if (reset)
        {
            _reset = true;
        }

        _input.Writer.TryComplete();
    }

    internal void MarkReset() => _reset = true;

    /// <summary>The client's next bytes; 0 once its side is closed (FIN, reset or the connection's end).</summary>
    public async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        while (_current is null || _offset == _current.Length)
        {
            if (!await _input.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                return 0;
            }

            _input.Reader.TryRead(out _current);
            _offset = 0;
        }

        var n = Math.Min(buffer.Length, _current.Length - _offset);
        _current.AsMemory(_offset, n).CopyTo(buffer);
        _offset += n;
        return n;
    }

    public Task ReplyAsync(CancellationToken cancellationToken) => _connection.ReplyAsync(this, cancellationToken);

    public Task WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        if (_reset || Volatile.Read(ref _writeClosed) != 0)
        {
            throw new IOException($"SPDY stream {Id} is closed.");
        }

        return data.IsEmpty ? Task.CompletedTask : _connection.SendDataAsync(Id, data, fin: false, cancellationToken);
    }

    /// <summary>Half-closes our side (an empty data frame with FIN), once; nothing if the stream was reset.</summary>
    public async Task CloseWriteAsync(CancellationToken cancellationToken)
    {
        if (!_reset && Interlocked.Exchange(ref _writeClosed, 1) == 0)
        {
            await _connection.SendDataAsync(Id, ReadOnlyMemory<byte>.Empty, fin: true, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Drops the stream from the connection's table once its session is done with it (later frames for it are ignored).</summary>
    public void Release() => _connection.Forget(Id);

    public Task ResetAsync(CancellationToken cancellationToken)
    {
        _reset = true;
        return _connection.ResetAsync(Id, SpdyStatus.Cancel, cancellationToken);
    }
}
