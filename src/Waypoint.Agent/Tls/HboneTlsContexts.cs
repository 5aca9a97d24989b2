using Envoy.Config.Cluster.V3;
using Envoy.Config.Core.V3;
using Envoy.Config.Endpoint.V3;
using Envoy.Extensions.TransportSockets.Tls.V3;
using UpstreamHttpProtocolOptions = Envoy.Extensions.Upstreams.Http.V3.HttpProtocolOptions;
using Envoy.Type.Matcher.V3;
using Google.Protobuf.WellKnownTypes;
using Waypoint.Agent.Sds;

namespace Waypoint.Agent.Tls;

/// <summary>
/// Envoy TLS contexts for HBONE that take their certificate and trust from the agent's SDS, the way Istio's
/// waypoint does (pilot/pkg/networking/core listener_waypoint.go, cluster_waypoint.go): certificate <c>default</c>,
/// trust <c>ROOTCA</c> plus URI-SAN prefix matchers on the trust domain, TLS 1.3 only, ALPN <c>h2</c>.
/// </summary>
public static class HboneTlsContexts
{
    /// <summary>The bootstrap cluster Envoy reaches the agent's SDS socket through.</summary>
    public const string SdsClusterName = "sds-grpc";

    /// <summary>Inbound (the 15008 HBONE listener): mutual TLS, a client certificate required and verified.</summary>
    public static DownstreamTlsContext Downstream(string trustDomain) => new()
    {
        CommonTlsContext = Common(trustDomain, extraPrefix: null),
        RequireClientCertificate = true,
    };

    /// <summary>
    /// Outbound (the HBONE-originating cluster): presents <c>default</c> and verifies the peer against <c>ROOTCA</c>
    /// and the trust domain. Like Istio it also lists the waypoint namespace's prefix; the matchers are OR-ed.
    /// No SNI is set.
    /// </summary>
    public static UpstreamTlsContext Upstream(string trustDomain, string waypointNamespace) => new()
    {
        CommonTlsContext = Common(trustDomain, $"{SpiffeId.TrustDomainPrefix(trustDomain)}ns/{waypointNamespace}/sa/"),
    };

    /// <summary>A reference to a secret served by the agent over <see cref="SdsClusterName"/> (waits indefinitely for it).</summary>
    public static SdsSecretConfig SecretConfig(string name) => new()
    {
        Name = name,
        SdsConfig = new ConfigSource
        {
            ResourceApiVersion = ApiVersion.V3,
            InitialFetchTimeout = new Duration(),
            ApiConfigSource = new ApiConfigSource
            {
                ApiType = ApiConfigSource.Types.ApiType.Grpc,
                TransportApiVersion = ApiVersion.V3,
                SetNodeOnFirstMessageOnly = true,
                GrpcServices = { new GrpcService { EnvoyGrpc = new GrpcService.Types.EnvoyGrpc { ClusterName = SdsClusterName } } },
            },
        },
    };

    /// <summary>The static bootstrap cluster for SDS: HTTP/2 over the agent's Unix socket.</summary>
    public static Cluster SdsCluster(string socketPath) => new()
    {
        Name = SdsClusterName,
        Type = Cluster.Types.DiscoveryType.Static,
        ConnectTimeout = Duration.FromTimeSpan(TimeSpan.FromSeconds(1)),
        TypedExtensionProtocolOptions =
        {
            ["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"] = Any.Pack(new UpstreamHttpProtocolOptions
            {
                ExplicitHttpConfig = new UpstreamHttpProtocolOptions.Types.ExplicitHttpConfig { Http2ProtocolOptions = new Http2ProtocolOptions() },
            }),
        },
        LoadAssignment = new ClusterLoadAssignment
        {
            ClusterName = SdsClusterName,
            Endpoints =
            {
                new LocalityLbEndpoints
                {
                    LbEndpoints = { new LbEndpoint { Endpoint = new Endpoint { Address = new Address { Pipe = new Pipe { Path = socketPath } } } } },
                },
            },
        },
    };

    private static CommonTlsContext Common(string trustDomain, string? extraPrefix)
    {
        if (!SpiffeId.IsValidTrustDomain(trustDomain))
        {
            throw new ArgumentException($"'{trustDomain}' is not a valid SPIFFE trust domain.", nameof(trustDomain));
        }

        var validation = new CertificateValidationContext
        {
            MatchTypedSubjectAltNames = { UriPrefix(SpiffeId.TrustDomainPrefix(trustDomain)) },
        };
        if (extraPrefix is not null)
        {
            validation.MatchTypedSubjectAltNames.Add(UriPrefix(extraPrefix));
        }

        return new CommonTlsContext
        {
            TlsParams = new TlsParameters
            {
                TlsMinimumProtocolVersion = TlsParameters.Types.TlsProtocol.Tlsv13,
                TlsMaximumProtocolVersion = TlsParameters.Types.TlsProtocol.Tlsv13,
            },
            AlpnProtocols = { "h2" },
            TlsCertificateSdsSecretConfigs = { SecretConfig(SdsSecrets.Default) },
            CombinedValidationContext = new CommonTlsContext.Types.CombinedCertificateValidationContext
            {
                DefaultValidationContext = validation,
                ValidationContextSdsSecretConfig = SecretConfig(SdsSecrets.RootCa),
            },
        };
    }

    private static SubjectAltNameMatcher UriPrefix(string prefix) => new()
    {
        SanType = SubjectAltNameMatcher.Types.SanType.Uri,
        Matcher = new StringMatcher { Prefix = prefix },
    };
}
