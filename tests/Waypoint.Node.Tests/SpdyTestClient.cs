using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Waypoint.Box.Network;
using Waypoint.Node.Streaming;

namespace Waypoint.Node.Tests;

/// <summary>
/// The client side of a SPDY/3.1 streaming connection as Kubernetes' clients make it (an HTTP/1.1 upgrade with
/// <c>X-Stream-Protocol-Version</c>, then streams opened with SYN_STREAM and headers), written with the node's frame
/// and header codec: enough to drive the streaming server from a test and record what it sends per stream.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
internal sealed class SpdyTestClient : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly SpdyHeaderCompressor _compressor = new();
    private readonly SpdyHeaderDecompressor _decompressor = new();
    private uint _nextStreamId = 1;

    private SpdyTestClient(Socket socket, string status, IReadOnlyDictionary<string, string> headers)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: false);
        Status = status;
        ResponseHeaders = headers;
    }

    /// <summary>The upgrade's status line, e.g. <c>HTTP/1.1 101 Switching Protocols</c>.</summary>
    public string Status { get; }

    public IReadOnlyDictionary<string, string> ResponseHeaders { get; }

    /// <summary>What the server sent per stream (data, in order).</summary>
    public Dictionary<uint, MemoryStream> Received { get; } = [];

    public HashSet<uint> Replied { get; } = [];

    public HashSet<uint> Finished { get; } = [];

    public HashSet<uint> Reset { get; } = [];

    public bool GoAway { get; private set; }

    public static async Task<SpdyTestClient> ConnectAsync(BoxNetworkNamespace network, Uri url, IEnumerable<string> protocols, CancellationToken cancellationToken)
    {
        var socket = await network.ConnectAsync(new IPEndPoint(IPAddress.Parse(url.Host), url.Port), cancellationToken);
        var request = new StringBuilder()
            .Append("POST ").Append(url.PathAndQuery).Append(" HTTP/1.1\r\n")
            .Append("Host: ").Append(url.Authority).Append("\r\n")
            .Append("Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\nContent-Length: 0\r\n");
        foreach (var protocol in protocols)
        {
            request.Append("X-Stream-Protocol-Version: ").Append(protocol).Append("\r\n");
        }

        await socket.SendAsync(Encoding.ASCII.GetBytes(request.Append("\r\n").ToString()), SocketFlags.None, cancellationToken);

        // The response head, one byte at a time so nothing of the SPDY frames after it is taken.
        var head = new List<byte>();
        var one = new byte[1];
        while (head.Count < 4 || !(head[^4] == '\r' && head[^3] == '\n' && head[^2] == '\r' && head[^1] == '\n'))
        {
            if (await socket.ReceiveAsync(one, SocketFlags.None, cancellationToken) == 0)
            {
                break;
            }

            head.Add(one[0]);
        }

        var lines = Encoding.ASCII.GetString([.. head]).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        var headers = lines.Skip(1).Select(l => l.Split(':', 2)).ToDictionary(p => p[0].Trim(), p => p.Length > 1 ? p[1].Trim() : string.Empty, StringComparer.OrdinalIgnoreCase);
        return new SpdyTestClient(socket, lines.FirstOrDefault() ?? string.Empty, headers);
    }

    /// <summary>Opens a stream with these headers (SYN_STREAM); returns its id.</summary>
    public async Task<uint> OpenAsync(IReadOnlyDictionary<string, string> headers, bool fin, CancellationToken cancellationToken)
    {
        var id = _nextStreamId;
        _nextStreamId += 2;
        var block = _compressor.Compress(SpdyHeaderBlock.Encode(headers.Select(h => KeyValuePair.Create(h.Key, (IReadOnlyList<string>)[h.Value]))));
        var frame = SpdyFrame.Control(SpdyFrameType.SynStream, fin ? SpdyFrame.FlagFin : (byte)0, SpdyFrame.SynStreamPayload(id, 0, 0, block));
        await _stream.WriteAsync(frame.Encode(), cancellationToken);
        return id;
    }

    public async Task SendAsync(uint streamId, string data, bool fin, CancellationToken cancellationToken) =>
        await _stream.WriteAsync(SpdyFrame.Data(streamId, Encoding.UTF8.GetBytes(data), fin).Encode(), cancellationToken);

    public async Task PingAsync(uint id, CancellationToken cancellationToken)
    {
        var payload = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(payload, id);
        await _stream.WriteAsync(SpdyFrame.Control(SpdyFrameType.Ping, 0, payload).Encode(), cancellationToken);
    }

    /// <summary>Reads frames until <paramref name="done"/> holds; returns the PING ids echoed meanwhile.</summary>
    public async Task<List<uint>> ReadUntilAsync(Func<SpdyTestClient, bool> done, CancellationToken cancellationToken)
    {
        var pings = new List<uint>();
        while (!done(this))
        {
            var frame = await SpdyFrame.ReadAsync(_stream, 1 << 24, cancellationToken) ?? throw new EndOfStreamException("The server closed the connection.");
            if (!frame.IsControl)
            {
                if (!Received.TryGetValue(frame.StreamId, out var data))
                {
                    Received[frame.StreamId] = data = new MemoryStream();
                }

                data.Write(frame.Payload);
                if (frame.Fin)
                {
                    Finished.Add(frame.StreamId);
                }

                continue;
            }

            switch (frame.Type)
            {
                case SpdyFrameType.SynReply:
                    Assert.Empty(_decompressor.Decompress(frame.Payload.AsSpan(4)).Values);
                    Replied.Add(frame.ControlStreamId);
                    if (frame.Fin)
                    {
                        Finished.Add(frame.ControlStreamId);
                    }

                    break;
                case SpdyFrameType.RstStream:
                    Reset.Add(frame.ControlStreamId);
                    break;
                case SpdyFrameType.Ping:
                    pings.Add(BinaryPrimitives.ReadUInt32BigEndian(frame.Payload));
                    break;
                case SpdyFrameType.GoAway:
                    GoAway = true;
                    break;
                default:
                    break;
            }
        }

        return pings;
    }

    public string Text(uint streamId) => Received.TryGetValue(streamId, out var data) ? Encoding.UTF8.GetString(data.ToArray()) : string.Empty;

    /// <summary>Whether the server closed the connection (a read sees its end) within <paramref name="limit"/>.</summary>
    public async Task<bool> ServerClosesAsync(TimeSpan limit)
    {
        using var timeout = new CancellationTokenSource(limit);
        var buffer = new byte[4096];
        try
        {
            while (await _stream.ReadAsync(buffer, timeout.Token) > 0)
            {
            }

            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
        catch (IOException)
        {
            return true;
        }
    }

    public async ValueTask DisposeAsync()
    {
        _decompressor.Dispose();
        await _stream.DisposeAsync();
        _socket.Dispose();
    }
}
