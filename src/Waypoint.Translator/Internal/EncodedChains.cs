using Envoy.Config.Listener.V3;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Xds.Type.Matcher.V3;
using XdsExtension = Xds.Core.V3.TypedExtensionConfig;

namespace Waypoint.Translator.Internal;

/// <summary>
/// The encoded pieces one service contributes to <c>main_internal</c>: its filter chains framed as
/// <c>Listener.filter_chains</c> entries and its range matcher framed as an <c>IPMatcher.range_matchers</c> entry.
/// </summary>
/// <remarks>
/// A repeated message field is encoded as its entries one after another, so the listener and its IP matcher are
/// assembled by concatenating these pieces: a change to one service re-encodes that service only, and the result is
/// byte for byte what encoding the whole listener would give (fields stay in field-number order). Once a listener is
/// assembled, each service's pieces are slices of the listener's encoding rather than copies beside it
/// (<see cref="CompleteMainListener"/>), so the waypoint's chains are held once, not twice.
/// </remarks>
internal sealed class EncodedChains
{
    private const string IpExtensionName = "ip";
    private static readonly string s_ipMatcherType = Envoy.TypeUrl(IPMatcher.Descriptor);

    private EncodedChains(byte[] chains, byte[] rangeMatcher)
    {
        Chains = chains;
        RangeMatcher = rangeMatcher;
    }

    /// <summary>The filter chains, each as a complete <c>filter_chains</c> field.</summary>
    /// <remarks>Never modified; after <see cref="CompleteMainListener"/> a slice of the listener's encoding (same bytes).</remarks>
    public ReadOnlyMemory<byte> Chains { get; private set; }

    /// <summary>The range matcher as a complete <c>range_matchers</c> field (a slice of the listener's encoding once assembled).</summary>
    public ReadOnlyMemory<byte> RangeMatcher { get; private set; }

    public static EncodedChains Of(IReadOnlyList<FilterChain> chains, IPMatcher.Types.IPRangeMatcher rangeMatcher) =>
        new(Frame(Listener.FilterChainsFieldNumber, chains), Frame(IPMatcher.RangeMatchersFieldNumber, [rangeMatcher]));

    /// <summary>
    /// Completes <c>main_internal</c>: inserts every service's filter chains into <paramref name="shell"/> and sets
    /// its chain matcher to an IP matcher over every service's range matcher. Returns the listener's encoding, made by
    /// concatenating the encoded pieces, identical to encoding the completed listener. Each of <paramref name="services"/>
    /// then refers to its pieces inside that encoding (equal bytes), so its own copies can be collected; callers must
    /// not assemble listeners from the same pieces concurrently.
    /// </summary>
    /// <param name="shell">A listener with a name, no address, no filter chains, no chain matcher and no field numbered above it (32).</param>
    /// <param name="shellBytes">The encoding of <paramref name="shell"/> as given.</param>
    /// <param name="services">Each service's pieces, in chain order.</param>
    public static ByteString CompleteMainListener(Listener shell, ReadOnlySpan<byte> shellBytes, IReadOnlyList<EncodedChains> services)
    {
        if (shell.Address is not null || shell.FilterChains.Count > 0 || shell.FilterChainMatcher is not null || string.IsNullOrEmpty(shell.Name))
        {
            throw new ArgumentException("The shell must have a name and no address, filter chains or chain matcher.", nameof(shell));
        }

        var nameField = CodedOutputStream.ComputeTagSize(Listener.NameFieldNumber) + CodedOutputStream.ComputeStringSize(shell.Name);
        long chainsSize = 0, rangesSize = 0;
        foreach (var service in services)
        {
            chainsSize += service.Chains.Length;
            rangesSize += service.RangeMatcher.Length;
        }

        // filter_chain_matcher { matcher_tree { input, custom_match { name: "ip", typed_config: Any(IPMatcher) } } },
        // written header by header so that the range matchers are copied once, straight into the listener.
        var ranges = checked((int)rangesSize);
        var anySize = Field(Any.TypeUrlFieldNumber, CodedOutputStream.ComputeStringSize(s_ipMatcherType)) + Field(Any.ValueFieldNumber, CodedOutputStream.ComputeLengthSize(ranges) + ranges);
        var extensionSize = Field(XdsExtension.NameFieldNumber, CodedOutputStream.ComputeStringSize(IpExtensionName)) + Field(XdsExtension.TypedConfigFieldNumber, CodedOutputStream.ComputeLengthSize(anySize) + anySize);
        var inputSize = ListenerBuilder.IpInput.CalculateSize();
        var treeSize = Field(Matcher.Types.MatcherTree.InputFieldNumber, CodedOutputStream.ComputeLengthSize(inputSize) + inputSize)
            + Field(Matcher.Types.MatcherTree.CustomMatchFieldNumber, CodedOutputStream.ComputeLengthSize(extensionSize) + extensionSize);
        var matcherSize = Field(Matcher.MatcherTreeFieldNumber, CodedOutputStream.ComputeLengthSize(treeSize) + treeSize);
        var matcherField = Field(Listener.FilterChainMatcherFieldNumber, CodedOutputStream.ComputeLengthSize(matcherSize) + matcherSize);

        var buffer = GC.AllocateUninitializedArray<byte>(checked((int)(shellBytes.Length + chainsSize + matcherField)));
        shellBytes[..nameField].CopyTo(buffer);
        var position = nameField;
        var chainStarts = new int[services.Count];
        for (var i = 0; i < services.Count; i++)
        {
            chainStarts[i] = position;
            services[i].Chains.Span.CopyTo(buffer.AsSpan(position));
            position += services[i].Chains.Length;
        }

        shellBytes[nameField..].CopyTo(buffer.AsSpan(position));
        position += shellBytes.Length - nameField;

        var headers = new byte[matcherField - ranges];
        var output = new CodedOutputStream(headers);
        output.WriteTag(Listener.FilterChainMatcherFieldNumber, WireFormat.WireType.LengthDelimited);
        output.WriteLength(matcherSize);
        output.WriteTag(Matcher.MatcherTreeFieldNumber, WireFormat.WireType.LengthDelimited);
        output.WriteLength(treeSize);
        output.WriteTag(Matcher.Types.MatcherTree.InputFieldNumber, WireFormat.WireType.LengthDelimited);
        output.WriteMessage(ListenerBuilder.IpInput);
        output.WriteTag(Matcher.Types.MatcherTree.CustomMatchFieldNumber, WireFormat.WireType.LengthDelimited);
        output.WriteLength(extensionSize);
        output.WriteTag(XdsExtension.NameFieldNumber, WireFormat.WireType.LengthDelimited);
        output.WriteString(IpExtensionName);
        output.WriteTag(XdsExtension.TypedConfigFieldNumber, WireFormat.WireType.LengthDelimited);
        output.WriteLength(anySize);
        output.WriteTag(Any.TypeUrlFieldNumber, WireFormat.WireType.LengthDelimited);
        output.WriteString(s_ipMatcherType);
        output.WriteTag(Any.ValueFieldNumber, WireFormat.WireType.LengthDelimited);
        output.WriteLength(ranges);
        output.CheckNoSpaceLeft();
        headers.CopyTo(buffer, position);
        position += headers.Length;

        var rangesStart = position;
        var rangeStarts = new int[services.Count];
        for (var i = 0; i < services.Count; i++)
        {
            rangeStarts[i] = position;
            services[i].RangeMatcher.Span.CopyTo(buffer.AsSpan(position));
            position += services[i].RangeMatcher.Length;
        }

        // The pieces now live in the listener's encoding: point at them there and drop the separate copies.
        for (var i = 0; i < services.Count; i++)
        {
            var service = services[i];
            service.Chains = buffer.AsMemory(chainStarts[i], service.Chains.Length);
            service.RangeMatcher = buffer.AsMemory(rangeStarts[i], service.RangeMatcher.Length);
        }

        // The typed listener shares the encoding's bytes for its IP matcher.
        var ipMatcher = new Any { TypeUrl = s_ipMatcherType, Value = UnsafeByteOperations.UnsafeWrap(buffer.AsMemory(rangesStart, ranges)) };
        shell.FilterChainMatcher = ListenerBuilder.ChainMatcher(ipMatcher);
        return UnsafeByteOperations.UnsafeWrap(buffer);
    }

    private static int Field(int fieldNumber, int valueSize) => CodedOutputStream.ComputeTagSize(fieldNumber) + valueSize;

    private static byte[] Frame<T>(int fieldNumber, IReadOnlyList<T> messages)
        where T : IMessage
    {
        var tag = CodedOutputStream.ComputeTagSize(fieldNumber);
        var size = 0;
        foreach (var message in messages)
        {
            size += tag + CodedOutputStream.ComputeMessageSize(message);
        }

        var buffer = new byte[size];
        var output = new CodedOutputStream(buffer);
        foreach (var message in messages)
        {
            output.WriteTag(fieldNumber, WireFormat.WireType.LengthDelimited);
            output.WriteMessage(message);
        }

        output.CheckNoSpaceLeft();
        return buffer;
    }
}
