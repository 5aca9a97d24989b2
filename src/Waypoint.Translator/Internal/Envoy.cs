using Envoy.Config.Core.V3;
using Envoy.Extensions.TransportSockets.InternalUpstream.V3;
using Envoy.Extensions.TransportSockets.RawBuffer.V3;
using Envoy.Extensions.TransportSockets.Tls.V3;
using System.Collections.Concurrent;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Google.Protobuf.WellKnownTypes;
using Duration = Google.Protobuf.WellKnownTypes.Duration;

namespace Waypoint.Translator.Internal;

/// <summary>Small builders for Envoy messages used everywhere.</summary>
/// <remarks>
/// Constant parts (transport sockets, the router filter) are single shared instances: protobuf messages have no
/// parent links, and translation output is never mutated, so one instance may sit in many resources.
/// </remarks>
internal static class Envoy
{
    private static readonly ConcurrentDictionary<MessageDescriptor, string> s_typeUrls = new();
    private static readonly TransportSocket s_rawBuffer = new() { Name = "envoy.transport_sockets.raw_buffer", TypedConfig = Pack(new RawBuffer()) };
    private static readonly TransportSocket s_internalUpstream = CreateInternalUpstream(passthroughEndpointMetadata: false);
    private static readonly TransportSocket s_internalUpstreamWithMetadata = CreateInternalUpstream(passthroughEndpointMetadata: true);

    /// <summary>As <see cref="Any.Pack(IMessage)"/>, without building the type URL on every call.</summary>
    public static Any Pack(IMessage message) => new() { TypeUrl = TypeUrl(message.Descriptor), Value = message.ToByteString() };

    /// <summary><c>type.googleapis.com/&lt;full name&gt;</c>, made once per message type.</summary>
    public static string TypeUrl(MessageDescriptor descriptor) =>
        s_typeUrls.GetOrAdd(descriptor, static d => "type.googleapis.com/" + d.FullName);

    public static Duration Duration(TimeSpan value) => Google.Protobuf.WellKnownTypes.Duration.FromTimeSpan(value);

    public static TypedExtensionConfig Extension(string name, IMessage config) => new() { Name = name, TypedConfig = Pack(config) };

    public static Address InternalAddress(string listener, string? endpointId = null)
    {
        var internalAddress = new EnvoyInternalAddress { ServerListenerName = listener };
        if (endpointId is not null)
        {
            internalAddress.EndpointId = endpointId;
        }

        return new Address { EnvoyInternalAddress = internalAddress };
    }

    public static Address SocketAddress(string ip, int port) =>
        new() { SocketAddress = new SocketAddress { Address = ip, PortValue = (uint)port } };

    public static TransportSocket RawBuffer() => s_rawBuffer;

    /// <summary>internal_upstream around raw_buffer, optionally passing host metadata to the internal listener.</summary>
    public static TransportSocket InternalUpstream(bool passthroughEndpointMetadata) =>
        passthroughEndpointMetadata ? s_internalUpstreamWithMetadata : s_internalUpstream;

    private static TransportSocket CreateInternalUpstream(bool passthroughEndpointMetadata)
    {
        var config = new InternalUpstreamTransport { TransportSocket = s_rawBuffer };
        if (passthroughEndpointMetadata)
        {
            config.PassthroughMetadata.Add(new InternalUpstreamTransport.Types.MetadataValueSource
            {
                Kind = new global::Envoy.Type.Metadata.V3.MetadataKind { Host = new global::Envoy.Type.Metadata.V3.MetadataKind.Types.Host() },
                Name = WellKnown.OriginalDstMetadataKey,
            });
            config.PassthroughMetadata.Add(new InternalUpstreamTransport.Types.MetadataValueSource
            {
                Kind = new global::Envoy.Type.Metadata.V3.MetadataKind { Host = new global::Envoy.Type.Metadata.V3.MetadataKind.Types.Host() },
                Name = WellKnown.IstioMetadataKey,
            });
        }

        return new TransportSocket { Name = "envoy.transport_sockets.internal_upstream", TypedConfig = Pack(config) };
    }

    /// <summary>SDS over the bootstrap's gRPC cluster; <c>initial_fetch_timeout 0s</c> waits for the agent instead of serving without a certificate.</summary>
    public static SdsSecretConfig Sds(string name, TranslatorOptions options) => new()
    {
        Name = name,
        SdsConfig = new ConfigSource
        {
            ApiConfigSource = new ApiConfigSource
            {
                ApiType = ApiConfigSource.Types.ApiType.Grpc,
                TransportApiVersion = ApiVersion.V3,
                SetNodeOnFirstMessageOnly = true,
                GrpcServices = { new GrpcService { EnvoyGrpc = new GrpcService.Types.EnvoyGrpc { ClusterName = options.SdsClusterName } } },
            },
            InitialFetchTimeout = new Duration(),
            ResourceApiVersion = ApiVersion.V3,
        },
    };

    /// <summary>HBONE TLS: 1.3 only, ALPN h2, our SDS certificate, peers validated by trust-domain prefix against ROOTCA.</summary>
    public static CommonTlsContext HboneTls(TranslatorOptions options, IEnumerable<string> sanPrefixes)
    {
        var validation = new CertificateValidationContext();
        foreach (var prefix in sanPrefixes)
        {
            validation.MatchTypedSubjectAltNames.Add(new SubjectAltNameMatcher
            {
                SanType = SubjectAltNameMatcher.Types.SanType.Uri,
                Matcher = new global::Envoy.Type.Matcher.V3.StringMatcher { Prefix = prefix },
            });
        }

        return new CommonTlsContext
        {
            TlsParams = new TlsParameters
            {
                TlsMinimumProtocolVersion = TlsParameters.Types.TlsProtocol.Tlsv13,
                TlsMaximumProtocolVersion = TlsParameters.Types.TlsProtocol.Tlsv13,
            },
            AlpnProtocols = { "h2" },
            TlsCertificateSdsSecretConfigs = { Sds(options.CertificateSecretName, options) },
            CombinedValidationContext = new CommonTlsContext.Types.CombinedCertificateValidationContext
            {
                DefaultValidationContext = validation,
                ValidationContextSdsSecretConfig = Sds(options.RootCaSecretName, options),
            },
        };
    }

    public static ConfigSource Ads() => new() { Ads = new AggregatedConfigSource(), ResourceApiVersion = ApiVersion.V3 };

    /// <summary><c>ip:port</c>, bracketing IPv6 (the form original_dst and HBONE authorities expect).</summary>
    public static string HostPort(string ip, int port) =>
        ip.Contains(':', StringComparison.Ordinal) ? $"[{ip}]:{port}" : $"{ip}:{port}";
}
