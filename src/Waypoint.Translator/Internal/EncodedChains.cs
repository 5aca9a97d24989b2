using Envoy.Config.Listener.V3;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Xds.Type.Matcher.V3;

namespace Waypoint.Translator.Internal;

/// <summary>
/// The encoded pieces one service contributes to <c>main_internal</c>: its filter chains framed as
/// <c>Listener.filter_chains</c> entries and its range matcher framed as an <c>IPMatcher.range_matchers</c> entry.
/// </summary>
/// <remarks>
/// A repeated message field is encoded as its entries one after another, so the listener and its IP matcher are
/// assembled by concatenating these pieces: a change to one service re-encodes that service only, and the result is
/// byte for byte what encoding the whole listener would give (fields stay in field-number order).
/// </remarks>
internal sealed class EncodedChains
{
    private static readonly string s_ipMatcherType = "type.googleapis.com/" + IPMatcher.Descriptor.FullName;

    private EncodedChains(byte[] chains, byte[] rangeMatcher)
    {
        Chains = chains;
        RangeMatcher = rangeMatcher;
    }

    /// <summary>The filter chains, each as a complete <c>filter_chains</c> field.</summary>
    public byte[] Chains { get; }

    /// <summary>The range matcher as a complete <c>range_matchers</c> field.</summary>
    public byte[] RangeMatcher { get; }

    public static EncodedChains Of(IReadOnlyList<FilterChain> chains, IPMatcher.Types.IPRangeMatcher rangeMatcher) =>
        new(Frame(global::Envoy.Config.Listener.V3.Listener.FilterChainsFieldNumber, chains), Frame(IPMatcher.RangeMatchersFieldNumber, [rangeMatcher]));

    /// <summary>The packed IP matcher over every service's range matcher, in order.</summary>
    public static Any IpMatcher(IReadOnlyList<EncodedChains> services) =>
        new() { TypeUrl = s_ipMatcherType, Value = Concatenate(services, static s => s.RangeMatcher, prefix: default, suffix: default) };

    /// <summary>
    /// The encoding of <paramref name="listener"/> with every service's filter chains inserted, where encoding the
    /// listener with those chains in <c>filter_chains</c> would put them: after <c>name</c> (1), before the rest.
    /// </summary>
    /// <param name="listener">A listener with a name, no address and no filter chains.</param>
    public static ByteString MainListener(Listener listener, IReadOnlyList<EncodedChains> services)
    {
        if (listener.Address is not null || listener.FilterChains.Count > 0 || string.IsNullOrEmpty(listener.Name))
        {
            throw new ArgumentException("The listener must have a name and neither an address nor filter chains.", nameof(listener));
        }

        var shell = listener.ToByteArray();
        var nameField = CodedOutputStream.ComputeTagSize(global::Envoy.Config.Listener.V3.Listener.NameFieldNumber) + CodedOutputStream.ComputeStringSize(listener.Name);
        return Concatenate(services, static s => s.Chains, shell.AsMemory(0, nameField), shell.AsMemory(nameField));
    }

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

    private static ByteString Concatenate(IReadOnlyList<EncodedChains> services, Func<EncodedChains, byte[]> part, ReadOnlyMemory<byte> prefix, ReadOnlyMemory<byte> suffix)
    {
        long size = prefix.Length + suffix.Length;
        foreach (var service in services)
        {
            size += part(service).Length;
        }

        var buffer = GC.AllocateUninitializedArray<byte>(checked((int)size));
        prefix.Span.CopyTo(buffer);
        var position = prefix.Length;
        foreach (var service in services)
        {
            var bytes = part(service);
            bytes.CopyTo(buffer, position);
            position += bytes.Length;
        }

        suffix.Span.CopyTo(buffer.AsSpan(position));
        return UnsafeByteOperations.UnsafeWrap(buffer);
    }
}
