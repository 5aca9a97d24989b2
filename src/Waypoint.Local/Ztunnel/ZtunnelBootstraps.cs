using System.Text.Json;
using System.Text.Json.Nodes;
using Waypoint.Local.Certificates;
using Waypoint.Local.Topology;

namespace Waypoint.Local.Ztunnel;

/// <summary>
/// Static bootstraps for the two Envoys that play ztunnel's roles in the rig (facts: waypoint-xds.md §1 and §9).
/// </summary>
/// <remarks>
/// <para><b>Outbound (client side).</b> One plain-TCP listener per Service VIP:port. A Service bound to a waypoint is
/// tunnelled as HTTP/2 CONNECT with <c>:authority</c> = VIP:port to the waypoint's 15008, presenting the client
/// workload's certificate and pinning the waypoint's SPIFFE ID, as ztunnel does. Other Services go straight to one
/// of their pods' 15008 with <c>:authority</c> = podIP:targetPort, through an internal listener that restores the
/// chosen pod address (the waypoint's own connect_originate shape).</para>
/// <para><b>Inbound (destination side).</b> One listener per pod IP:15008 presenting that pod's certificate and
/// requiring a mesh client certificate; CONNECT is accepted only for the pod's own IP. The tunnel payload goes
/// through an internal listener: HTTP gets header <c>x-hbone-peer-identity</c> = the HBONE peer's URI SAN (a rig
/// feature: real ztunnel is L4 and only enforces policy with that identity), anything else is plain TCP to the app.</para>
/// </remarks>
public static class ZtunnelBootstraps
{
    /// <summary>The header the inbound role adds to HTTP requests: the SPIFFE ID of the HBONE peer (the waypoint, or the client when no waypoint is used).</summary>
    public const string PeerIdentityHeader = "x-hbone-peer-identity";

    public const int HbonePort = 15008;
    private const string PeerFilterStateKey = "io.waypoint.hbone_peer";
    private const string InboundInternalListener = "inbound_internal";
    private const string OutboundInternalListener = "outbound_originate";

    /// <summary>The client-side ztunnel: plain TCP in on every VIP:port, HBONE out.</summary>
    public static string Outbound(LocalTopology topology, PemFiles clientCertificate, string rootPath)
    {
        ArgumentNullException.ThrowIfNull(topology);
        ArgumentNullException.ThrowIfNull(clientCertificate);
        var listeners = new JsonArray();
        var clusters = new JsonArray();
        foreach (var waypoint in topology.Waypoints)
        {
            var san = topology.SpiffeId(waypoint.Namespace, waypoint.ServiceAccount);
            var cluster = HboneCluster($"waypoint|{waypoint.Key}", clientCertificate, rootPath, new JsonObject { ["exact"] = san });
            cluster["type"] = "STATIC";
            cluster["load_assignment"] = Parse($$"""
                { "cluster_name": "waypoint|{{waypoint.Key}}", "endpoints": [{ "lb_endpoints": [{ "endpoint": { "address": { "socket_address": { "address": "{{waypoint.Address}}", "port_value": {{HbonePort}} } } } }] }] }
                """);
            clusters.Add(cluster);
        }

        foreach (var service in topology.Services)
        {
            foreach (var port in service.Ports)
            {
                var name = $"{service.Namespace}/{service.Name}:{port.Port}";
                string cluster;
                string? hostname;
                if (service.Waypoint is { } waypoint)
                {
                    cluster = $"waypoint|{waypoint.Key}";
                    hostname = $"{service.Address}:{port.Port}";
                }
                else
                {
                    // Plain TCP to the internal listener, which opens the tunnel to the chosen pod.
                    cluster = $"direct|{name}";
                    hostname = null;
                    clusters.Add(DirectCluster(cluster, service.Pods.Select(p => $"{p.Address}:{port.TargetPort}")));
                }

                var proxy = new JsonObject
                {
                    ["@type"] = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                    ["stat_prefix"] = $"outbound|{name}",
                    ["cluster"] = cluster,
                };
                if (hostname is not null)
                {
                    proxy["tunneling_config"] = new JsonObject { ["hostname"] = hostname };
                }

                listeners.Add(new JsonObject
                {
                    ["name"] = $"outbound|{name}",
                    ["address"] = Parse($$"""{ "socket_address": { "address": "{{service.Address}}", "port_value": {{port.Port}} } }"""),
                    ["filter_chains"] = new JsonArray(new JsonObject
                    {
                        ["filters"] = new JsonArray(new JsonObject { ["name"] = "envoy.filters.network.tcp_proxy", ["typed_config"] = proxy }),
                    }),
                });
            }
        }

        // Pod-addressed tunnels: original_dst restores podIP:targetPort from the endpoint metadata passed through.
        listeners.Add(Parse($$"""
            {
              "name": "{{OutboundInternalListener}}",
              "internal_listener": {},
              "use_original_dst": false,
              "listener_filters": [{ "name": "envoy.filters.listener.original_dst", "typed_config": { "@type": "type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst" } }],
              "filter_chains": [{ "filters": [{
                "name": "envoy.filters.network.tcp_proxy",
                "typed_config": {
                  "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                  "stat_prefix": "outbound_originate",
                  "cluster": "pod_hbone",
                  "tunneling_config": { "hostname": "%DOWNSTREAM_LOCAL_ADDRESS%" }
                }
              }] }]
            }
            """));
        var podHbone = HboneCluster("pod_hbone", clientCertificate, rootPath, new JsonObject { ["prefix"] = $"spiffe://{topology.TrustDomain}/" });
        podHbone["type"] = "ORIGINAL_DST";
        podHbone["lb_policy"] = "CLUSTER_PROVIDED";
        podHbone["original_dst_lb_config"] = Parse($$"""{ "upstream_port_override": {{HbonePort}} }""");
        clusters.Add(podHbone);
        return Bootstrap("ztunnel-outbound", listeners, clusters);
    }

    /// <summary>The destination-side ztunnels of every pod, in one Envoy: a listener per podIP:15008.</summary>
    public static string Inbound(LocalTopology topology, Func<LocalPod, PemFiles> podCertificate, string rootPath)
    {
        ArgumentNullException.ThrowIfNull(topology);
        ArgumentNullException.ThrowIfNull(podCertificate);
        var listeners = new JsonArray();
        foreach (var pod in topology.Pods)
        {
            var certificate = podCertificate(pod);
            listeners.Add(Parse($$"""
                {
                  "name": "inbound|{{pod.Namespace}}/{{pod.Name}}",
                  "address": { "socket_address": { "address": "{{pod.Address}}", "port_value": {{HbonePort}} } },
                  "filter_chains": [{
                    "transport_socket": {
                      "name": "envoy.transport_sockets.tls",
                      "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
                        "require_client_certificate": true,
                        "common_tls_context": {{CommonTls(certificate, rootPath, new JsonObject { ["prefix"] = $"spiffe://{topology.TrustDomain}/" })}}
                      }
                    },
                    "filters": [{
                      "name": "envoy.filters.network.http_connection_manager",
                      "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                        "stat_prefix": "inbound_hbone",
                        "codec_type": "HTTP2",
                        "http2_protocol_options": { "allow_connect": true, "max_concurrent_streams": 1000 },
                        "upgrade_configs": [{ "upgrade_type": "CONNECT" }],
                        "stream_idle_timeout": "0s",
                        "route_config": {
                          "name": "inbound_hbone",
                          "virtual_hosts": [{
                            "name": "pod",
                            "domains": ["*"],
                            "routes": [{
                              "match": { "connect_matcher": {}, "headers": [{ "name": ":authority", "string_match": { "prefix": "{{pod.Address}}:" } }] },
                              "route": { "cluster": "inbound_app", "upgrade_configs": [{ "upgrade_type": "CONNECT", "connect_config": {} }] }
                            }]
                          }]
                        },
                        "http_filters": [
                          {
                            "name": "envoy.filters.http.set_filter_state",
                            "typed_config": {
                              "@type": "type.googleapis.com/envoy.extensions.filters.http.set_filter_state.v3.Config",
                              "on_request_headers": [
                                { "object_key": "envoy.filters.listener.original_dst.local_ip", "format_string": { "text_format_source": { "inline_string": "%REQ(:AUTHORITY)%" } }, "shared_with_upstream": "ONCE" },
                                { "object_key": "envoy.filters.listener.original_dst.remote_ip", "format_string": { "text_format_source": { "inline_string": "%DOWNSTREAM_REMOTE_ADDRESS%" } }, "shared_with_upstream": "ONCE" },
                                { "object_key": "{{PeerFilterStateKey}}", "factory_key": "envoy.hashable_string", "format_string": { "text_format_source": { "inline_string": "%DOWNSTREAM_PEER_URI_SAN%" } }, "shared_with_upstream": "ONCE" }
                              ]
                            }
                          },
                          { "name": "envoy.filters.http.router", "typed_config": { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }
                        ]
                      }
                    }]
                  }]
                }
                """));
        }

        listeners.Add(Parse($$"""
            {
              "name": "{{InboundInternalListener}}",
              "internal_listener": {},
              "listener_filters": [
                { "name": "envoy.filters.listener.original_dst", "typed_config": { "@type": "type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst" } },
                { "name": "envoy.filters.listener.http_inspector", "typed_config": { "@type": "type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector" } }
              ],
              "filter_chains": [{
                "name": "http",
                "filter_chain_match": { "application_protocols": ["http/1.1", "h2c"] },
                "filters": [{
                  "name": "envoy.filters.network.http_connection_manager",
                  "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                    "stat_prefix": "inbound_app",
                    "preserve_external_request_id": true,
                    "generate_request_id": false,
                    "skip_xff_append": true,
                    "stream_idle_timeout": "0s",
                    "server_header_transformation": "PASS_THROUGH",
                    "route_config": {
                      "name": "inbound_app",
                      "virtual_hosts": [{
                        "name": "app",
                        "domains": ["*"],
                        "routes": [{
                          "match": { "prefix": "/" },
                          "route": { "cluster": "app_http", "timeout": "0s" },
                          "request_headers_to_add": [{
                            "header": { "key": "{{PeerIdentityHeader}}", "value": "%FILTER_STATE({{PeerFilterStateKey}}:PLAIN)%" },
                            "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"
                          }]
                        }]
                      }]
                    },
                    "http_filters": [{ "name": "envoy.filters.http.router", "typed_config": { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }]
                  }
                }]
              }],
              "default_filter_chain": {
                "name": "tcp",
                "filters": [{
                  "name": "envoy.filters.network.tcp_proxy",
                  "typed_config": { "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", "stat_prefix": "inbound_app_tcp", "cluster": "app_tcp" }
                }]
              }
            }
            """));
        var clusters = new JsonArray
        {
            Parse($$"""
                {
                  "name": "inbound_app",
                  "type": "STATIC",
                  "connect_timeout": "5s",
                  "load_assignment": { "cluster_name": "inbound_app", "endpoints": [{ "lb_endpoints": [{ "endpoint": { "address": { "envoy_internal_address": { "server_listener_name": "{{InboundInternalListener}}" } } } }] }] },
                  "transport_socket": {
                    "name": "envoy.transport_sockets.internal_upstream",
                    "typed_config": {
                      "@type": "type.googleapis.com/envoy.extensions.transport_sockets.internal_upstream.v3.InternalUpstreamTransport",
                      "transport_socket": { "name": "envoy.transport_sockets.raw_buffer", "typed_config": { "@type": "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer" } }
                    }
                  }
                }
                """),
            Parse("""{ "name": "app_http", "type": "ORIGINAL_DST", "lb_policy": "CLUSTER_PROVIDED", "connect_timeout": "5s" }"""),
            Parse("""{ "name": "app_tcp", "type": "ORIGINAL_DST", "lb_policy": "CLUSTER_PROVIDED", "connect_timeout": "5s" }"""),
        };
        return Bootstrap("ztunnel-inbound", listeners, clusters);
    }

    private static JsonObject DirectCluster(string name, IEnumerable<string> podTargets)
    {
        var endpoints = new JsonArray();
        foreach (var target in podTargets)
        {
            endpoints.Add(Parse($$"""
                {
                  "endpoint": { "address": { "envoy_internal_address": { "server_listener_name": "{{OutboundInternalListener}}", "endpoint_id": "{{target}}" } } },
                  "metadata": { "filter_metadata": { "envoy.filters.listener.original_dst": { "local": "{{target}}" } } }
                }
                """));
        }

        var cluster = Parse($$"""
            {
              "name": "{{name}}",
              "type": "STATIC",
              "connect_timeout": "5s",
              "transport_socket": {
                "name": "envoy.transport_sockets.internal_upstream",
                "typed_config": {
                  "@type": "type.googleapis.com/envoy.extensions.transport_sockets.internal_upstream.v3.InternalUpstreamTransport",
                  "passthrough_metadata": [{ "kind": { "host": {} }, "name": "envoy.filters.listener.original_dst" }],
                  "transport_socket": { "name": "envoy.transport_sockets.raw_buffer", "typed_config": { "@type": "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer" } }
                }
              }
            }
            """);
        cluster["load_assignment"] = new JsonObject { ["cluster_name"] = name, ["endpoints"] = new JsonArray(new JsonObject { ["lb_endpoints"] = endpoints }) };
        return cluster;
    }

    /// <summary>An HBONE client cluster: HTTP/2 with CONNECT, TLS 1.3, ALPN h2, no SNI, the client certificate, the given SAN check.</summary>
    private static JsonObject HboneCluster(string name, PemFiles clientCertificate, string rootPath, JsonObject sanMatcher) => Parse($$"""
        {
          "name": "{{name}}",
          "connect_timeout": "5s",
          "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
              "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
              "explicit_http_config": { "http2_protocol_options": { "allow_connect": true } }
            }
          },
          "transport_socket": {
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
              "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
              "common_tls_context": {{CommonTls(clientCertificate, rootPath, sanMatcher)}}
            }
          }
        }
        """);

    private static string CommonTls(PemFiles certificate, string rootPath, JsonObject sanMatcher) => $$"""
        {
          "tls_params": { "tls_minimum_protocol_version": "TLSv1_3", "tls_maximum_protocol_version": "TLSv1_3" },
          "alpn_protocols": ["h2"],
          "tls_certificates": [{ "certificate_chain": { "filename": {{Quote(certificate.CertificateChainPath)}} }, "private_key": { "filename": {{Quote(certificate.PrivateKeyPath)}} } }],
          "validation_context": {
            "trusted_ca": { "filename": {{Quote(rootPath)}} },
            "match_typed_subject_alt_names": [{ "san_type": "URI", "matcher": {{sanMatcher.ToJsonString()}} }]
          }
        }
        """;

    private static string Bootstrap(string nodeId, JsonArray listeners, JsonArray clusters)
    {
        var bootstrap = Parse($$"""
            {
              "node": { "id": "{{nodeId}}", "cluster": "{{nodeId}}" },
              "bootstrap_extensions": [{
                "name": "envoy.bootstrap.internal_listener",
                "typed_config": { "@type": "type.googleapis.com/envoy.extensions.bootstrap.internal_listener.v3.InternalListener", "buffer_size_kb": 64 }
              }],
              "layered_runtime": { "layers": [{ "name": "static", "static_layer": { "overload.global_downstream_max_connections": 100000 } }] }
            }
            """);
        bootstrap["static_resources"] = new JsonObject { ["listeners"] = listeners, ["clusters"] = clusters };
        return bootstrap.ToJsonString();
    }

    private static string Quote(string value) => JsonSerializer.Serialize(value);

    private static JsonObject Parse(string json) => JsonNode.Parse(json)!.AsObject();
}
