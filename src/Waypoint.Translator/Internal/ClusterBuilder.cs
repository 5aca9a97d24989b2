using Envoy.Config.Cluster.V3;
using Envoy.Config.Core.V3;
using Envoy.Config.Endpoint.V3;
using Envoy.Extensions.TransportSockets.Tls.V3;
using Envoy.Extensions.Upstreams.Http.V3;
using Envoy.Type.Metadata.V3;
using Google.Protobuf.WellKnownTypes;
using k8s.Models;
using CoreHttpOptions = Envoy.Config.Core.V3.HttpProtocolOptions;
using UpstreamHttpOptions = Envoy.Extensions.Upstreams.Http.V3.HttpProtocolOptions;

namespace Waypoint.Translator.Internal;

/// <summary>Clusters and load assignments (design A of waypoint-xds.md §3).</summary>
internal static class ClusterBuilder
{
    private const string HttpProtocolOptionsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

    /// <summary><c>main_internal</c> or <c>encap</c>: a static cluster onto an internal listener.</summary>
    public static Cluster Internal(string name, string listener)
    {
        var cluster = new Cluster
        {
            Name = name,
            Type = Cluster.Types.DiscoveryType.Static,
            LoadAssignment = new ClusterLoadAssignment
            {
                ClusterName = name,
                Endpoints = { new LocalityLbEndpoints { LbEndpoints = { new LbEndpoint { Endpoint = new Endpoint { Address = Envoy.InternalAddress(listener) } } } } },
            },
            TransportSocket = Envoy.InternalUpstream(passthroughEndpointMetadata: false),
        };
        cluster.TypedExtensionProtocolOptions.Add(HttpProtocolOptionsKey, Envoy.Pack(new UpstreamHttpOptions
        {
            CommonHttpProtocolOptions = new CoreHttpOptions { IdleTimeout = Envoy.Duration(TimeSpan.FromMinutes(5)) },
            UseDownstreamProtocolConfig = new UpstreamHttpOptions.Types.UseDownstreamHttpConfig(),
        }));
        return cluster;
    }

    /// <summary>
    /// <c>connect_originate</c>: HTTP/2 CONNECT over mTLS to the endpoint's pod on :15008, with the waypoint's own
    /// certificate; peers validated by trust-domain prefix (each destination presents its own workload identity).
    /// </summary>
    public static Cluster ConnectOriginate(TranslatorOptions options, string waypointNamespace)
    {
        var tls = new UpstreamTlsContext
        {
            CommonTlsContext = Envoy.HboneTls(options, [$"spiffe://{options.TrustDomain}/", $"spiffe://{options.TrustDomain}/ns/{waypointNamespace}/sa/"]),
        };
        var cluster = new Cluster
        {
            Name = WellKnown.ConnectOriginate,
            Type = Cluster.Types.DiscoveryType.OriginalDst,
            LbPolicy = Cluster.Types.LbPolicy.ClusterProvided,
            ConnectTimeout = Envoy.Duration(options.ConnectTimeout),
            CleanupInterval = Envoy.Duration(TimeSpan.FromSeconds(60)),
            OriginalDstLbConfig = new Cluster.Types.OriginalDstLbConfig
            {
                UpstreamPortOverride = WellKnown.HbonePort,
                MetadataKey = new MetadataKey { Key = WellKnown.OriginalDstMetadataKey, Path = { new MetadataKey.Types.PathSegment { Key = "waypoint" } } },
            },
            TransportSocket = new TransportSocket { Name = "envoy.transport_sockets.tls", TypedConfig = Envoy.Pack(tls) },
        };
        cluster.TypedExtensionProtocolOptions.Add(HttpProtocolOptionsKey, Envoy.Pack(new UpstreamHttpOptions
        {
            CommonHttpProtocolOptions = new CoreHttpOptions { IdleTimeout = Envoy.Duration(options.HboneIdleTimeout) },
            ExplicitHttpConfig = new UpstreamHttpOptions.Types.ExplicitHttpConfig
            {
                Http2ProtocolOptions = new Http2ProtocolOptions { AllowConnect = true },
            },
        }));
        return cluster;
    }

    /// <summary>A service port's cluster (<c>inbound-vip|…</c> or <c>outbound|…</c>).</summary>
    public static Cluster Service(ClusterRequest request, TranslatorOptions options)
    {
        var cluster = new Cluster
        {
            Name = request.Name,
            ConnectTimeout = Envoy.Duration(options.ConnectTimeout),
            LbPolicy = Cluster.Types.LbPolicy.LeastRequest,
        };

        if (request.Service.DnsResolution)
        {
            // DNS ServiceEntry: plain connections to the resolved hosts (not HBONE: they are outside the mesh).
            cluster.Type = Cluster.Types.DiscoveryType.StrictDns;
            cluster.LoadAssignment = DnsLoadAssignment(request);
        }
        else
        {
            cluster.Type = Cluster.Types.DiscoveryType.Eds;
            cluster.EdsClusterConfig = new Cluster.Types.EdsClusterConfig { EdsConfig = Envoy.Ads() };
            cluster.TransportSocket = Envoy.InternalUpstream(passthroughEndpointMetadata: true);
        }

        if (request.Http)
        {
            var protocol = new UpstreamHttpOptions();
            switch (request.Port.Protocol)
            {
                case PortProtocol.Http2:
                    protocol.ExplicitHttpConfig = new UpstreamHttpOptions.Types.ExplicitHttpConfig { Http2ProtocolOptions = new Http2ProtocolOptions() };
                    break;
                case PortProtocol.Auto:
                    protocol.UseDownstreamProtocolConfig = new UpstreamHttpOptions.Types.UseDownstreamHttpConfig();
                    break;
                default:
                    protocol.ExplicitHttpConfig = new UpstreamHttpOptions.Types.ExplicitHttpConfig { HttpProtocolOptions = new Http1ProtocolOptions() };
                    break;
            }

            cluster.TypedExtensionProtocolOptions.Add(HttpProtocolOptionsKey, Envoy.Pack(protocol));
        }

        return cluster;
    }

    private static ClusterLoadAssignment DnsLoadAssignment(ClusterRequest request)
    {
        var service = request.Service;
        var entry = (Waypoint.Translator.Model.V1ServiceEntry)service.Source;
        var targetPort = request.Port.TargetPort is { } t ? t.ToInt() : request.Port.Port;
        var endpoints = new LocalityLbEndpoints();
        var addresses = entry.Spec.Endpoints is { Count: > 0 } list
            ? list.Where(e => !string.IsNullOrEmpty(e.Address)).Select(e => (e.Address!, PortFor(e.Ports, request.Port.Name) ?? targetPort))
            : [(service.Host, targetPort)];
        foreach (var (address, port) in addresses.OrderBy(a => a.Item1, StringComparer.Ordinal).ThenBy(a => a.Item2))
        {
            endpoints.LbEndpoints.Add(new LbEndpoint { Endpoint = new Endpoint { Address = Envoy.SocketAddress(address, port) } });
        }

        return new ClusterLoadAssignment { ClusterName = request.Name, Endpoints = { endpoints } };
    }

    private static int? PortFor(IDictionary<string, int>? ports, string? name) =>
        ports is not null && name is not null && ports.TryGetValue(name, out var port) ? port : null;

    /// <summary>
    /// A service port's endpoints: HBONE-capable pods become internal addresses on <c>connect_originate</c>
    /// (endpoint id and original_dst metadata = <c>podIP:targetPort</c>); others plain socket addresses. A pod's endpoint
    /// carries Istio's <c>istio.workload</c> metadata either way.
    /// </summary>
    public static ClusterLoadAssignment LoadAssignment(string clusterName, IReadOnlyList<EndpointModel> endpoints)
    {
        var locality = new LocalityLbEndpoints();
        foreach (var endpoint in endpoints)
        {
            var hostPort = Envoy.HostPort(endpoint.Ip, endpoint.Port);
            var lb = new LbEndpoint();
            if (endpoint.Hbone)
            {
                lb.Endpoint = new Endpoint { Address = Envoy.InternalAddress(WellKnown.ConnectOriginate, hostPort) };
                lb.Metadata = new Metadata();
                lb.Metadata.FilterMetadata.Add(WellKnown.OriginalDstMetadataKey, new Struct { Fields = { ["local"] = Value.ForString(hostPort) } });
            }
            else
            {
                lb.Endpoint = new Endpoint { Address = Envoy.SocketAddress(endpoint.Ip, endpoint.Port) };
            }

            // Every pod's endpoint, HBONE or not: the request metrics read the destination workload from it.
            if (endpoint.Workload is not null)
            {
                lb.Metadata ??= new Metadata();
                lb.Metadata.FilterMetadata.Add(WellKnown.IstioMetadataKey, new Struct { Fields = { ["workload"] = Value.ForString(endpoint.Workload) } });
            }

            locality.LbEndpoints.Add(lb);
        }

        var assignment = new ClusterLoadAssignment { ClusterName = clusterName };
        if (locality.LbEndpoints.Count > 0)
        {
            assignment.Endpoints.Add(locality);
        }

        return assignment;
    }
}

/// <summary>One ready endpoint of a service port.</summary>
internal sealed record EndpointModel(string Ip, int Port, bool Hbone, string? Workload);
