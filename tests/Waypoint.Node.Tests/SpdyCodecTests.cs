using System.Text;
using Waypoint.Node.Streaming;

namespace Waypoint.Node.Tests;

/// <summary>
/// SPDY/3 frames and header blocks. The compressed vectors were made with Python's zlib 1.2.13
/// (<c>compressobj(9, DEFLATED, 15, 9, Z_DEFAULT_STRATEGY, zdict=dictionary)</c>, one <c>Z_SYNC_FLUSH</c> per block,
/// i.e. what Go's <c>zlib.NewWriterLevelDict</c> + <c>Flush</c> in the Kubernetes clients produce), and our
/// compressor's output was checked to inflate there with the same dictionary.
/// </summary>
public sealed class SpdyCodecTests
{
    [Fact]
    public void The_Dictionary_Is_The_Drafts_1423_Bytes_Whose_Adler32_Is_What_Zlib_Headers_Name()
    {
        var dictionary = SpdyHeaderBlock.Dictionary.ToArray();
        Assert.Equal(1423, dictionary.Length);
        uint a = 1, b = 0;
        foreach (var x in dictionary)
        {
            a = (a + x) % 65521;
            b = (b + a) % 65521;
        }

        Assert.Equal(0xe3c6a7c2u, (b << 16) | a);
        Assert.Equal(SpdyHeaderBlock.DictionaryId, (b << 16) | a);
        Assert.Equal("\0\0\0\u0007options\0\0\0\u0004head", Encoding.ASCII.GetString(dictionary, 0, 19));
        Assert.EndsWith("utf-,*,enq=0.", Encoding.ASCII.GetString(dictionary), StringComparison.Ordinal);
    }

    [Fact]
    public void Blocks_Compressed_By_Zlib_With_The_Dictionary_Decode_In_Order_On_One_Stream()
    {
        using var decompressor = new SpdyHeaderDecompressor();
        var first = decompressor.Decompress(Convert.FromHexString("78f9e3c6a7c202253a703a2b294a4dcc452a4a1221a572113803581858180069ce22482c66825237a301000000ffff"));
        Assert.Equal("data", first.Get("streamType"));
        Assert.Equal("8080", first.Get("port"));
        Assert.Equal("0", first.Get("requestID"));
        Assert.Equal(3, first.Values.Count);

        // The second block refers back into the first (it is 16 bytes for 49 of headers): only the same stream decodes it.
        var second = decompressor.Decompress(Convert.FromHexString("c2aa973515144904351b02000000ffff"));
        Assert.Equal("error", second.Get("streamtype"));
        Assert.Equal("8080", second.Get("port"));
        Assert.Equal("1", second.Get("requestid"));

        using var fresh = new SpdyHeaderDecompressor();
        Assert.ThrowsAny<Exception>(() => fresh.Decompress(Convert.FromHexString("c2aa973515144904351b02000000ffff")));
    }

    [Fact]
    public void Our_Blocks_Are_A_Zlib_Stream_Naming_The_Dictionary_With_Stored_Blocks()
    {
        var compressor = new SpdyHeaderCompressor();
        Assert.Equal("783FE3C6A7C2000400FBFF00000000000000FFFF", Convert.ToHexString(compressor.Compress(SpdyHeaderBlock.Encode([]))));
        Assert.Equal(
            "001C00E3FF000000010000000A73747265616D74797065000000067374646F7574000000FFFF",
            Convert.ToHexString(compressor.Compress(SpdyHeaderBlock.Encode([KeyValuePair.Create("streamType", (IReadOnlyList<string>)["stdout"])]))));
    }

    [Fact]
    public void Every_Block_Ends_With_The_Sync_Flush_Marker_So_An_Inflater_Gets_It_Without_Reading_Past_The_Frame()
    {
        // Go's inflater (the kubelet's and kubectl's SPDY framer) releases a stored block's bytes only when it reads
        // the next block's header, and reads a frame's header block through a reader limited to that frame: without
        // the empty stored block after each block, the second SYN_REPLY of a connection was not parsed (box, kubectl 1.37).
        var compressor = new SpdyHeaderCompressor();
        var marker = Convert.FromHexString("000000FFFF");
        foreach (var size in (int[])[0, 1, 65_535, 70_000])
        {
            var compressed = compressor.Compress(SpdyHeaderBlock.Encode([KeyValuePair.Create("x", (IReadOnlyList<string>)[new string('v', size)])]));
            Assert.True(compressed.AsSpan().EndsWith(marker), $"block with a {size}-byte value: {Convert.ToHexString(compressed[^8..])}");
        }
    }

    [Fact]
    public void Header_Blocks_Round_Trip_With_Several_Values_And_Blocks_Longer_Than_A_Stored_Block()
    {
        var compressor = new SpdyHeaderCompressor();
        using var decompressor = new SpdyHeaderDecompressor();
        var big = new string('x', 70_000);
        for (var i = 0; i < 3; i++)
        {
            var headers = new Dictionary<string, IReadOnlyList<string>>
            {
                ["streamType"] = ["data"],
                ["X-Many"] = ["one", "two", i.ToString(System.Globalization.CultureInfo.InvariantCulture)],
                ["big"] = [big],
            };
            var decoded = decompressor.Decompress(compressor.Compress(SpdyHeaderBlock.Encode(headers)));
            Assert.Equal("data", decoded.Get("STREAMTYPE"));
            Assert.Equal(["one", "two", i.ToString(System.Globalization.CultureInfo.InvariantCulture)], decoded.Values["x-many"]);
            Assert.Equal(big, decoded.Get("big"));
        }

        Assert.Equal(string.Empty, SpdyHeaders.Empty.Get("missing"));
    }

    [Fact]
    public void A_Block_That_Ends_Early_Or_Claims_Too_Much_Is_Invalid()
    {
        var compressor = new SpdyHeaderCompressor();
        using var decompressor = new SpdyHeaderDecompressor();
        var whole = SpdyHeaderBlock.Encode([KeyValuePair.Create("port", (IReadOnlyList<string>)["80"])]);
        Assert.Throws<InvalidDataException>(() => decompressor.Decompress(compressor.Compress(whole[..^1])));

        using var second = new SpdyHeaderDecompressor();
        Assert.Throws<InvalidDataException>(() => second.Decompress(new SpdyHeaderCompressor().Compress([0xff, 0xff, 0xff, 0xff])));
    }

    [Fact]
    public async Task Frames_Encode_To_The_Drafts_Layout_And_Read_Back()
    {
        var ping = SpdyFrame.Control(SpdyFrameType.Ping, 0, [0, 0, 0, 7]);
        Assert.Equal("8003000600000004" + "00000007", Convert.ToHexString(ping.Encode()));
        var data = SpdyFrame.Data(3, "hi"u8, fin: true);
        Assert.Equal("0000000301000002" + "6869", Convert.ToHexString(data.Encode()));
        var rst = SpdyFrame.Control(SpdyFrameType.RstStream, 0, SpdyFrame.TwoWords(5, 5));
        Assert.Equal("80030003000000080000000500000005", Convert.ToHexString(rst.Encode()));
        var syn = SpdyFrame.Control(SpdyFrameType.SynStream, SpdyFrame.FlagFin, SpdyFrame.SynStreamPayload(1, 0, 0, [0xAB]));
        Assert.Equal("800300010100000B" + "00000001" + "00000000" + "0000" + "AB", Convert.ToHexString(syn.Encode()));
        Assert.Equal("DATA stream 3 flags 0x01 length 2: 6869", data.ToString());
        Assert.Equal("RstStream stream 5 flags 0x00 length 8: 0000000500000005", rst.ToString());

        using var wire = new MemoryStream([.. ping.Encode(), .. data.Encode(), .. syn.Encode()]);
        var readPing = await SpdyFrame.ReadAsync(wire, 1024, CancellationToken.None);
        Assert.True(readPing!.Value.IsControl);
        Assert.Equal(SpdyFrameType.Ping, readPing.Value.Type);
        Assert.Equal([0, 0, 0, 7], readPing.Value.Payload);
        var readData = await SpdyFrame.ReadAsync(wire, 1024, CancellationToken.None);
        Assert.False(readData!.Value.IsControl);
        Assert.Equal(3u, readData.Value.StreamId);
        Assert.True(readData.Value.Fin);
        Assert.Equal("hi"u8.ToArray(), readData.Value.Payload);
        var readSyn = await SpdyFrame.ReadAsync(wire, 1024, CancellationToken.None);
        Assert.Equal(SpdyFrameType.SynStream, readSyn!.Value.Type);
        Assert.Equal(1u, readSyn.Value.ControlStreamId);
        Assert.True(readSyn.Value.Fin);
        Assert.Null(await SpdyFrame.ReadAsync(wire, 1024, CancellationToken.None)); // A clean end between frames.
    }

    [Fact]
    public async Task Other_Versions_Oversized_And_Truncated_Frames_Are_Refused()
    {
        using var version2 = new MemoryStream(Convert.FromHexString("8002000600000004" + "00000001"));
        await Assert.ThrowsAsync<InvalidDataException>(async () => await SpdyFrame.ReadAsync(version2, 1024, CancellationToken.None));
        using var oversized = new MemoryStream(Convert.FromHexString("0000000100100000"));
        await Assert.ThrowsAsync<InvalidDataException>(async () => await SpdyFrame.ReadAsync(oversized, 1024, CancellationToken.None));
        using var truncated = new MemoryStream(Convert.FromHexString("00000001000000"));
        await Assert.ThrowsAsync<EndOfStreamException>(async () => await SpdyFrame.ReadAsync(truncated, 1024, CancellationToken.None));
        using var shortPayload = new MemoryStream(Convert.FromHexString("000000010000000A6869"));
        await Assert.ThrowsAsync<EndOfStreamException>(async () => await SpdyFrame.ReadAsync(shortPayload, 1024, CancellationToken.None));
    }
}
