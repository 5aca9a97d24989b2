using Envoy.Config.Cluster.V3;
using Envoy.Config.Core.V3;
using Envoy.Config.Endpoint.V3;
using Envoy.Extensions.Filters.Http.ExtProc.V3;
using Envoy.Extensions.Filters.Network.HttpConnectionManager.V3;
using UpstreamHttpProtocolOptions = Envoy.Extensions.Upstreams.Http.V3.HttpProtocolOptions;
using Google.Protobuf.WellKnownTypes;
using HeaderSendMode = Envoy.Extensions.Filters.Http.ExtProc.V3.ProcessingMode.Types.HeaderSendMode;
using BodySendMode = Envoy.Extensions.Filters.Http.ExtProc.V3.ProcessingMode.Types.BodySendMode;

namespace Waypoint.Transformation.Compilation;

/// <summary>The listener-level pieces a waypoint needs once any route uses the transformation service.</summary>
public static class TransformationEnvoyConfig
{
    /// <summary>
    /// The ext_proc HTTP filter, disabled by default: only routes carrying the per-route config from
    /// <see cref="RouteTrafficPolicy.ApplyTo"/> enable it, so other traffic never reaches the service. Place it before the router.
    /// </summary>
    public static HttpFilter CreateHttpFilter(TimeSpan? messageTimeout = null)
    {
        var config = new ExternalProcessor
        {
            GrpcService = new GrpcService { EnvoyGrpc = new GrpcService.Types.EnvoyGrpc { ClusterName = TransformationExtProc.ClusterName } },
            FailureModeAllow = false,
            ProcessingMode = new ProcessingMode
            {
                RequestHeaderMode = HeaderSendMode.Skip,
                ResponseHeaderMode = HeaderSendMode.Skip,
                RequestTrailerMode = HeaderSendMode.Skip,
                ResponseTrailerMode = HeaderSendMode.Skip,
                RequestBodyMode = BodySendMode.None,
                ResponseBodyMode = BodySendMode.None,
            },
            MessageTimeout = Duration.FromTimeSpan(messageTimeout ?? TimeSpan.FromSeconds(2)),

            // Templates may set :path, :authority/host; the route was already chosen, so keep it (kgateway does not re-route either).
            MutationRules = new Envoy.Config.Common.MutationRules.V3.HeaderMutationRules { AllowAllRouting = true },
            RouteCacheAction = ExternalProcessor.Types.RouteCacheAction.Retain,
            StatPrefix = "waypoint_transformation",
        };
        return new HttpFilter { Name = TransformationExtProc.FilterName, TypedConfig = Any.Pack(config), Disabled = true };
    }

    /// <summary>The HTTP/2 cluster to the transformation service's Unix socket (default <see cref="TransformationExtProc.DefaultSocketPath"/>).</summary>
    public static Cluster CreateCluster(string? socketPath = null)
    {
        var options = new UpstreamHttpProtocolOptions
        {
            ExplicitHttpConfig = new UpstreamHttpProtocolOptions.Types.ExplicitHttpConfig { Http2ProtocolOptions = new Http2ProtocolOptions() },
        };
        return new Cluster
        {
            Name = TransformationExtProc.ClusterName,
            Type = Cluster.Types.DiscoveryType.Static,
            ConnectTimeout = Duration.FromTimeSpan(TimeSpan.FromSeconds(1)),
            TypedExtensionProtocolOptions = { ["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"] = Any.Pack(options) },
            LoadAssignment = new ClusterLoadAssignment
            {
                ClusterName = TransformationExtProc.ClusterName,
                Endpoints =
                {
                    new LocalityLbEndpoints
                    {
                        LbEndpoints =
                        {
                            new LbEndpoint
                            {
                                Endpoint = new Endpoint { Address = new Address { Pipe = new Pipe { Path = socketPath ?? TransformationExtProc.DefaultSocketPath } } },
                            },
                        },
                    },
                },
            },
        };
    }
}
