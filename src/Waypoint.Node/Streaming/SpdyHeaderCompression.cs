using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace Waypoint.Node.Streaming;

/// <summary>
/// SPDY/3 header blocks (draft 3, section 2.6.10): a 32-bit count of name/value pairs, then for each a 32-bit length
/// and the name, a 32-bit length and the value (several values of one name are separated by NUL), compressed as one
/// zlib stream per connection and direction with the draft's preset dictionary, each block ending at a sync flush.
/// </summary>
internal static class SpdyHeaderBlock
{
    /// <summary>At most this many pairs in a block we read (the kubelet's clients send three or four).</summary>
    public const int MaxPairs = 1024;

    /// <summary>At most this many bytes in one name or value.</summary>
    public const int MaxStringLength = 1 << 20;

    /// <summary>
    /// The SPDY/3 dictionary: the draft lists it as bytes; they are its header names and common values, each as a
    /// 32-bit big-endian length and the ASCII word, then one run of status codes, reason phrases, dates and media types.
    /// </summary>
    public static ReadOnlySpan<byte> Dictionary => DictionaryBytes;

    /// <summary>The dictionary's Adler-32, the DICTID of a zlib header that names it.</summary>
    public const uint DictionaryId = 0xe3c6a7c2;

    private static readonly string[] DictionaryWords =
    [
        "options", "head", "post", "put", "delete", "trace", "accept", "accept-charset", "accept-encoding",
        "accept-language", "accept-ranges", "age", "allow", "authorization", "cache-control", "connection",
        "content-base", "content-encoding", "content-language", "content-length", "content-location", "content-md5",
        "content-range", "content-type", "date", "etag", "expect", "expires", "from", "host", "if-match",
        "if-modified-since", "if-none-match", "if-range", "if-unmodified-since", "last-modified", "location",
        "max-forwards", "pragma", "proxy-authenticate", "proxy-authorization", "range", "referer", "retry-after",
        "server", "te", "trailer", "transfer-encoding", "upgrade", "user-agent", "vary", "via", "warning",
        "www-authenticate", "method", "get", "status", "200 OK", "version", "HTTP/1.1", "url", "public", "set-cookie",
        "keep-alive", "origin",
    ];

    private const string DictionaryTail =
        "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
        + "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
        + "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
        + "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
        + "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
        + "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.";

    private static readonly byte[] DictionaryBytes = BuildDictionary();

    /// <summary>The uncompressed block of <paramref name="headers"/> (names lower-cased, as SPDY/3 requires).</summary>
    public static byte[] Encode(IEnumerable<KeyValuePair<string, IReadOnlyList<string>>> headers)
    {
        var pairs = headers.ToList();
        using var block = new MemoryStream();
        Span<byte> length = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(length, pairs.Count);
        block.Write(length);
        foreach (var (name, values) in pairs)
        {
            WriteString(block, name.ToLowerInvariant());
            WriteString(block, string.Join('\0', values));
        }

        return block.ToArray();

        static void WriteString(MemoryStream block, string text)
        {
            var bytes = Encoding.UTF8.GetBytes(text);
            Span<byte> length = stackalloc byte[4];
            BinaryPrimitives.WriteInt32BigEndian(length, bytes.Length);
            block.Write(length);
            block.Write(bytes);
        }
    }

    /// <summary>Reads one uncompressed block from <paramref name="source"/> (names compared without case).</summary>
    public static SpdyHeaders Decode(Stream source)
    {
        var count = ReadLength(source, MaxPairs);
        var headers = new Dictionary<string, IReadOnlyList<string>>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < count; i++)
        {
            var name = ReadString(source);
            var values = ReadString(source).Split('\0');
            headers[name] = headers.TryGetValue(name, out var existing) ? [.. existing, .. values] : values;
        }

        return new SpdyHeaders(headers);

        static string ReadString(Stream source)
        {
            var bytes = new byte[ReadLength(source, MaxStringLength)];
            source.ReadExactly(bytes);
            return Encoding.UTF8.GetString(bytes);
        }

        static int ReadLength(Stream source, int max)
        {
            Span<byte> length = stackalloc byte[4];
            source.ReadExactly(length);
            var value = BinaryPrimitives.ReadUInt32BigEndian(length);
            return value <= (uint)max ? (int)value : throw new InvalidDataException($"SPDY header block: length {value} is over {max}.");
        }
    }

    private static byte[] BuildDictionary()
    {
        using var bytes = new MemoryStream();
        Span<byte> length = stackalloc byte[4];
        foreach (var word in DictionaryWords)
        {
            BinaryPrimitives.WriteInt32BigEndian(length, word.Length);
            bytes.Write(length);
            bytes.Write(Encoding.ASCII.GetBytes(word));
        }

        bytes.Write(Encoding.ASCII.GetBytes(DictionaryTail));
        return bytes.ToArray();
    }
}

/// <summary>The headers of a SPDY stream; names compared without case.</summary>
internal sealed class SpdyHeaders(IReadOnlyDictionary<string, IReadOnlyList<string>> values)
{
    public static readonly SpdyHeaders Empty = new(new Dictionary<string, IReadOnlyList<string>>(StringComparer.OrdinalIgnoreCase));

    public IReadOnlyDictionary<string, IReadOnlyList<string>> Values { get; } = values;

    /// <summary>The first value of <paramref name="name"/>, or the empty string.</summary>
    public string Get(string name) => Values.TryGetValue(name, out var values) && values.Count > 0 ? values[0] : string.Empty;
}

/// <summary>
/// Our direction's header compression: a zlib stream that names the SPDY dictionary (so any SPDY/3 peer's inflater
/// takes it) and carries each block as stored deflate blocks followed by an empty stored block, the shape a sync flush
/// leaves, so every block is complete where its frame ends, for inflaters that release a block's bytes only at the next
/// block (Go's); header blocks here are a few bytes, so nothing is lost by not compressing them.
/// </summary>
internal sealed class SpdyHeaderCompressor
{
    /// <summary>An empty, non-final stored block: what ends every block after a zlib <c>Z_SYNC_FLUSH</c>.</summary>
    private static readonly byte[] SyncFlushMarker = [0x00, 0x00, 0x00, 0xff, 0xff];

    private bool _started;

    public byte[] Compress(byte[] block)
    {
        using var output = new MemoryStream();
        if (!_started)
        {
            // CMF 0x78: deflate, 32 KiB window. FLG: FDICT (0x20), level bits 0, FCHECK making CMF*256+FLG a multiple of 31.
            const int cmf = 0x78;
            var flg = 0x20;
            flg += 31 - (((cmf << 8) + flg) % 31);
            output.WriteByte(cmf);
            output.WriteByte((byte)flg);
            Span<byte> id = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(id, SpdyHeaderBlock.DictionaryId);
            output.Write(id);
            _started = true;
        }

        var offset = 0;
        Span<byte> lengths = stackalloc byte[4];
        do
        {
            var length = Math.Min(block.Length - offset, ushort.MaxValue);
            output.WriteByte(0); // BFINAL 0, BTYPE 00 (stored); the rest of the byte is padding.
            BinaryPrimitives.WriteUInt16LittleEndian(lengths, (ushort)length);
            BinaryPrimitives.WriteUInt16LittleEndian(lengths[2..], (ushort)~length);
            output.Write(lengths);
            output.Write(block, offset, length);
            offset += length;
        }
        while (offset < block.Length);

        // The sync flush's empty stored block. Go's inflater hands out a stored block's bytes only once it has read
        // the next block's header; without this one it reads past the frame's end, and its zlib reader keeps that
        // error for every later block of the connection (the peer's first SYN_REPLY parsed, the second did not).
        output.Write(SyncFlushMarker);
        return output.ToArray();
    }
}

/// <summary>
/// The peer's direction: one inflater for the connection's whole zlib stream. .NET's inflater takes no preset
/// dictionary, but a dictionary is only history before the first byte: the raw deflate data is fed after a stored
/// block holding the dictionary, whose output is read and dropped first, so references into it resolve.
/// </summary>
internal sealed class SpdyHeaderDecompressor : IDisposable
{
    private readonly FeedStream _feed = new();
    private readonly DeflateStream _inflater;
    private int _zlibHeaderLeft = 2;
    private bool _dictionaryIdNext;

    public SpdyHeaderDecompressor()
    {
        _inflater = new DeflateStream(_feed, CompressionMode.Decompress, leaveOpen: true);
        var dictionary = SpdyHeaderBlock.Dictionary;
        var stored = new byte[5 + dictionary.Length];
        BinaryPrimitives.WriteUInt16LittleEndian(stored.AsSpan(1), (ushort)dictionary.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(stored.AsSpan(3), (ushort)~dictionary.Length);
        dictionary.CopyTo(stored.AsSpan(5));
        _feed.Add(stored);
        _inflater.ReadExactly(new byte[dictionary.Length]);
    }

    /// <summary>Decodes the next compressed block (a frame's header bytes).</summary>
    public SpdyHeaders Decompress(ReadOnlySpan<byte> compressed)
    {
        compressed = SkipZlibHeader(compressed);
        _feed.Add(compressed.ToArray());
        try
        {
            return SpdyHeaderBlock.Decode(_inflater);
        }
        catch (EndOfStreamException ex)
        {
            throw new InvalidDataException("SPDY header block: the compressed data ends inside the block.", ex);
        }
    }

    private ReadOnlySpan<byte> SkipZlibHeader(ReadOnlySpan<byte> data)
    {
        while (_zlibHeaderLeft > 0 && data.Length > 0)
        {
            if (_zlibHeaderLeft == 2 && !_dictionaryIdNext)
            {
                if ((data[0] & 0x0f) != 8)
                {
                    throw new InvalidDataException("SPDY header block: not a zlib deflate stream.");
                }
            }
            else if (_zlibHeaderLeft == 1 && !_dictionaryIdNext && (data[0] & 0x20) != 0)
            {
                _dictionaryIdNext = true;
                _zlibHeaderLeft = 5; // This byte and the four of DICTID.
            }

            _zlibHeaderLeft--;
            data = data[1..];
        }

        return data;
    }

    public void Dispose()
    {
        _inflater.Dispose();
        _feed.Dispose();
    }

    /// <summary>What the inflater reads: the bytes handed in so far; nothing more (never blocks).</summary>
    private sealed class FeedStream : Stream
    {
        private readonly Queue<byte[]> _chunks = new();
        private int _offset;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public void Add(byte[] chunk)
        {
            if (chunk.Length > 0)
            {
                _chunks.Enqueue(chunk);
            }
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var total = 0;
            while (buffer.Length > 0 && _chunks.TryPeek(out var chunk))
            {
                var n = Math.Min(buffer.Length, chunk.Length - _offset);
                chunk.AsSpan(_offset, n).CopyTo(buffer);
                buffer = buffer[n..];
                total += n;
                _offset += n;
                if (_offset == chunk.Length)
                {
                    _chunks.Dequeue();
                    _offset = 0;
                }
            }

            return total;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
