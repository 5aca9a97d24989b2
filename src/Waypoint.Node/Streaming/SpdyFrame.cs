using System.Buffers.Binary;

namespace Waypoint.Node.Streaming;

/// <summary>SPDY/3 control frame types (draft 3, section 2.6) this server reads or writes.</summary>
internal enum SpdyFrameType : ushort
{
    SynStream = 1,
    SynReply = 2,
    RstStream = 3,
    Settings = 4,
    Ping = 6,
    GoAway = 7,
    Headers = 8,
    WindowUpdate = 9,
}

/// <summary>
/// One SPDY/3 frame as on the wire. A control frame: bit 0 set, version 3 (15 bits), type (16), flags (8), length
/// (24), payload. A data frame: bit 0 clear, stream id (31), flags (8), length (24), payload. Flag 0x01 is FIN on
/// SYN_STREAM, SYN_REPLY, HEADERS and data frames.
/// </summary>
internal readonly record struct SpdyFrame(bool IsControl, SpdyFrameType Type, uint StreamId, byte Flags, byte[] Payload)
{
    public const ushort Version = 3;
    public const byte FlagFin = 0x01;
    public const byte FlagUnidirectional = 0x02;
    public const int HeaderLength = 8;

    /// <summary>The largest payload a frame can carry (24-bit length).</summary>
    public const int MaxPayload = (1 << 24) - 1;

    public bool Fin => (Flags & FlagFin) != 0;

    /// <summary>The frame for a log line: its kind, stream, flags and length, and up to 32 payload bytes in hex.</summary>
    public override string ToString()
    {
        var kind = IsControl ? Type.ToString() : "DATA";
        var stream = IsControl ? ControlStreamId : StreamId;
        var head = Convert.ToHexString(Payload.AsSpan(0, Math.Min(32, Payload.Length)));
        return string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{kind} stream {stream} flags 0x{Flags:x2} length {Payload.Length}: {head}{(Payload.Length > 32 ? "..." : "")}");
    }

    public static SpdyFrame Data(uint streamId, ReadOnlySpan<byte> data, bool fin) => new(false, 0, streamId, fin ? FlagFin : (byte)0, data.ToArray());

    public static SpdyFrame Control(SpdyFrameType type, byte flags, byte[] payload) => new(true, type, 0, flags, payload);

    /// <summary>The stream a control frame is about (SYN_STREAM, SYN_REPLY, RST_STREAM, HEADERS, WINDOW_UPDATE: the first 31 bits of the payload).</summary>
    public uint ControlStreamId => Payload.Length >= 4 ? BinaryPrimitives.ReadUInt32BigEndian(Payload) & 0x7fffffff : 0;

    public byte[] Encode()
    {
        if (Payload.Length > MaxPayload)
        {
            throw new InvalidOperationException($"A SPDY frame carries at most {MaxPayload} bytes.");
        }

        var bytes = new byte[HeaderLength + Payload.Length];
        if (IsControl)
        {
            BinaryPrimitives.WriteUInt16BigEndian(bytes, 0x8000 | Version);
            BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(2), (ushort)Type);
        }
        else
        {
            BinaryPrimitives.WriteUInt32BigEndian(bytes, StreamId & 0x7fffffff);
        }

        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(4), ((uint)Flags << 24) | (uint)Payload.Length);
        Payload.CopyTo(bytes, HeaderLength);
        return bytes;
    }

    /// <summary>Reads one frame; null at a clean end of the stream (between frames).</summary>
    public static async Task<SpdyFrame?> ReadAsync(Stream stream, int maxPayload, CancellationToken cancellationToken)
    {
        var header = new byte[HeaderLength];
        var read = await stream.ReadAtLeastAsync(header, HeaderLength, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
        if (read == 0)
        {
            return null;
        }

        if (read < HeaderLength)
        {
            throw new EndOfStreamException("The SPDY connection ended inside a frame header.");
        }

        var first = BinaryPrimitives.ReadUInt32BigEndian(header);
        var flagsAndLength = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(4));
        var length = (int)(flagsAndLength & 0xffffff);
        if (length > maxPayload)
        {
            throw new InvalidDataException($"A SPDY frame of {length} bytes is over this server's limit of {maxPayload}.");
        }

        var payload = new byte[length];
        await stream.ReadExactlyAsync(payload, cancellationToken).ConfigureAwait(false);
        var flags = (byte)(flagsAndLength >> 24);
        if ((first & 0x80000000) == 0)
        {
            return new SpdyFrame(false, 0, first & 0x7fffffff, flags, payload);
        }

        var version = (ushort)((first >> 16) & 0x7fff);
        if (version != Version)
        {
            throw new InvalidDataException($"SPDY version {version} is not spoken here (only {Version}).");
        }

        return new SpdyFrame(true, (SpdyFrameType)(first & 0xffff), 0, flags, payload);
    }

    /// <summary>A SYN_STREAM's payload: stream id, associated stream id, priority (3 bits) and slot, then the compressed header block.</summary>
    public static byte[] SynStreamPayload(uint streamId, uint associatedStreamId, byte priority, ReadOnlySpan<byte> compressedHeaders)
    {
        var payload = new byte[10 + compressedHeaders.Length];
        BinaryPrimitives.WriteUInt32BigEndian(payload, streamId & 0x7fffffff);
        BinaryPrimitives.WriteUInt32BigEndian(payload.AsSpan(4), associatedStreamId & 0x7fffffff);
        payload[8] = (byte)(priority << 5);
        compressedHeaders.CopyTo(payload.AsSpan(10));
        return payload;
    }

    /// <summary>A SYN_REPLY's or HEADERS' payload: stream id, then the compressed header block.</summary>
    public static byte[] StreamHeadersPayload(uint streamId, ReadOnlySpan<byte> compressedHeaders)
    {
        var payload = new byte[4 + compressedHeaders.Length];
        BinaryPrimitives.WriteUInt32BigEndian(payload, streamId & 0x7fffffff);
        compressedHeaders.CopyTo(payload.AsSpan(4));
        return payload;
    }

    /// <summary>Two 32-bit words: RST_STREAM (stream id, status), GOAWAY (last good stream id, status), WINDOW_UPDATE (stream id, delta).</summary>
    public static byte[] TwoWords(uint first, uint second)
    {
        var payload = new byte[8];
        BinaryPrimitives.WriteUInt32BigEndian(payload, first & 0x7fffffff);
        BinaryPrimitives.WriteUInt32BigEndian(payload.AsSpan(4), second);
        return payload;
    }
}
