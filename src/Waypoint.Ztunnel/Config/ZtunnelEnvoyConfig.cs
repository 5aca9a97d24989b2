using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Waypoint.Ztunnel.Mesh;

namespace Waypoint.Ztunnel.Config;

/// <summary>The listeners and clusters of one node's ztunnel Envoy, as filesystem-xDS documents (DiscoveryResponse JSON).</summary>
public sealed record ZtunnelEnvoyDocuments(string Listeners, string Clusters);

/// <summary>
/// Translates a <see cref="NodeMeshModel"/> into the node Envoy's configuration (pure: the same model and paths give
/// the same bytes). JSON, not our C# protos: <c>SocketAddress.network_namespace_filepath</c> is newer than the protos we compile.
/// </summary>
/// <remarks>
/// <para><b>Inbound</b>, per enrolled pod: a listener bound to podIP:15008 <i>inside the pod's network namespace</i>;
/// TLS 1.3, ALPN h2, the pod ServiceAccount's certificate, a client certificate from the mesh root required; HTTP/2
/// CONNECT whose authority is the pod's own IP goes to an ORIGINAL_DST cluster keyed on <c>:authority</c> (Envoy dials
/// from the node's namespace, over the pod's veth). Other authorities get no route.</para>
/// <para><b>Outbound</b>, per enrolled pod and captured Service VIP:port: a plain TCP listener on VIP:port inside the
/// pod's namespace (the VIP is a <c>local</c> route on the pod's lo). With a waypoint, tcp_proxy tunnels to it with
/// authority VIP:port and the source pod's <c>baggage</c> header (<see cref="WorkloadBaggage"/>); otherwise to an
/// internal listener per ServiceAccount that restores the chosen pod's podIP:targetPort (original_dst from endpoint
/// metadata) and tunnels to podIP:15008 with that authority. The client certificate is the source pod's ServiceAccount's.</para>
/// <para>Upstream Envoy refuses a network namespace on cluster hosts, so every upstream connection leaves from the
/// node's namespace: peers see the node IP as the source.</para>
/// </remarks>
public static class ZtunnelEnvoyConfig
{
    private const string ListenerType = "type.googleapis.com/envoy.config.listener.v3.Listener";
    private const string ClusterType = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
    private const string InboundCluster = "inbound_pod";

    public static ZtunnelEnvoyDocuments Build(NodeMeshModel model, ZtunnelPaths paths)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(paths);
        var listeners = new JsonArray();
        var clusters = new JsonArray
        {
            Parse($$"""
                {
                  "name": "{{InboundCluster}}",
                  "type": "ORIGINAL_DST",
                  "lb_policy": "CLUSTER_PROVIDED",
                  "connect_timeout": "5s",
                  "original_dst_lb_config": { "use_http_header": true, "http_header_name": ":authority" }
                }
                """),
        };
        var trustPrefix = $"spiffe://{model.TrustDomain}/";
        foreach (var pod in model.Pods)
        {
            listeners.Add(InboundListener(pod, paths, trustPrefix));
        }

        var addedClusters = new HashSet<string>(StringComparer.Ordinal);
        foreach (var account in model.Pods.Select(p => p.ServiceAccount).Distinct().Order())
        {
            listeners.Add(OriginateListener(account));
            var hbone = HboneCluster(HboneClusterName(account), account, paths, trustPrefix);
            hbone["type"] = "ORIGINAL_DST";
            hbone["lb_policy"] = "CLUSTER_PROVIDED";
            hbone["original_dst_lb_config"] = Parse($$"""{ "upstream_port_override": {{NodeMesh.HbonePort}} }""");
            clusters.Add(hbone);
        }

        foreach (var pod in model.Pods)
        {
            foreach (var route in model.Services)
            {
                string cluster;
                string? tunnelTo = null;
                if (route.Waypoint is { } waypoint)
                {
                    cluster = $"waypoint|{pod.ServiceAccount.FileName}|{waypoint.Connect}";
                    tunnelTo = waypoint.Authority;
                    if (addedClusters.Add(cluster))
                    {
                        var hbone = HboneCluster(cluster, pod.ServiceAccount, paths, trustPrefix);
                        hbone["type"] = "STATIC";
                        hbone["load_assignment"] = LoadAssignment(cluster, [SocketEndpoint(waypoint.Connect)]);
                        clusters.Add(hbone);
                    }
                }
                else
                {
                    cluster = $"outbound|{pod.ServiceAccount.FileName}|{route.Key}";
                    if (addedClusters.Add(cluster))
                    {
                        clusters.Add(DirectCluster(cluster, pod.ServiceAccount, route.WaypointUnresolved ? [] : route.Endpoints));
                    }
                }

                listeners.Add(OutboundListener(pod, route, cluster, tunnelTo, paths));
            }
        }

        var version = model.Revision.ToString(CultureInfo.InvariantCulture);
        return new ZtunnelEnvoyDocuments(Document(version, ListenerType, listeners), Document(version, ClusterType, clusters));
    }

    /// <summary>The SDS file of one ServiceAccount: its chain and key, inline (the file is 0600 in a 0700 folder).</summary>
    public static string SecretDocument(ServiceAccountKey account, string certificateChainPem, string privateKeyPem)
    {
        var secret = new JsonObject
        {
            ["@type"] = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
            ["name"] = account.FileName,
            ["tls_certificate"] = new JsonObject
            {
                ["certificate_chain"] = new JsonObject { ["inline_string"] = certificateChainPem },
                ["private_key"] = new JsonObject { ["inline_string"] = privateKeyPem },
            },
        };
        return new JsonObject { ["version_info"] = "1", ["resources"] = new JsonArray(secret) }.ToJsonString();
    }

    /// <summary>The static bootstrap: admin on loopback of the node's namespace, internal listeners, LDS/CDS from watched files.</summary>
    public static string Bootstrap(string nodeId, ZtunnelPaths paths, int adminPort)
    {
        ArgumentNullException.ThrowIfNull(paths);
        return Parse($$"""
            {
              "node": { "id": {{Quote(nodeId)}}, "cluster": "ztunnel" },
              "admin": { "address": { "socket_address": { "address": "127.0.0.1", "port_value": {{adminPort}} } } },
              "bootstrap_extensions": [{
                "name": "envoy.bootstrap.internal_listener",
                "typed_config": { "@type": "type.googleapis.com/envoy.extensions.bootstrap.internal_listener.v3.InternalListener", "buffer_size_kb": 64 }
              }],
              "layered_runtime": { "layers": [{ "name": "static", "static_layer": { "overload.global_downstream_max_connections": 100000 } }] },
              "dynamic_resources": {
                "lds_config": { "resource_api_version": "V3", "path_config_source": { "path": {{Quote(paths.Listeners)}}, "watched_directory": { "path": {{Quote(paths.ConfigDirectory)}} } } },
                "cds_config": { "resource_api_version": "V3", "path_config_source": { "path": {{Quote(paths.Clusters)}}, "watched_directory": { "path": {{Quote(paths.ConfigDirectory)}} } } }
              }
            }
            """).ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    public static string InboundListenerName(EnrolledPod pod) => $"inbound|{pod.Key}";

    public static string OutboundListenerName(EnrolledPod pod, ServicePortRoute route) => $"outbound|{pod.Key}|{route.Key}";

    private static string HboneClusterName(ServiceAccountKey account) => $"hbone|{account.FileName}";

    private static string OriginateListenerName(ServiceAccountKey account) => $"originate|{account.FileName}";

    private static JsonObject InboundListener(EnrolledPod pod, ZtunnelPaths paths, string trustPrefix)
    {
        var authority = "^" + Regex.Escape(pod.Address.ToString()) + ":[0-9]{1,5}$";
        var listener = Parse($$"""
            {
              "name": {{Quote(InboundListenerName(pod))}},
              "address": { "socket_address": { "address": "{{pod.Address}}", "port_value": {{NodeMesh.HbonePort}}, "network_namespace_filepath": {{Quote(pod.NetworkNamespacePath)}} } },
              "filter_chains": [{
                "transport_socket": {
                  "name": "envoy.transport_sockets.tls",
                  "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
                    "require_client_certificate": true
                  }
                },
                "filters": [{
                  "name": "envoy.filters.network.http_connection_manager",
                  "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                    "stat_prefix": {{Quote("inbound_hbone|" + pod.Key)}},
                    "codec_type": "HTTP2",
                    "http2_protocol_options": { "allow_connect": true, "max_concurrent_streams": 1000 },
                    "upgrade_configs": [{ "upgrade_type": "CONNECT" }],
                    "stream_idle_timeout": "0s",
                    "access_log": [{
                      "name": "envoy.access_loggers.file",
                      "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
                        "path": {{Quote(paths.AccessLog)}},
                        "log_format": { "text_format_source": { "inline_string": {{Quote("inbound pod=" + pod.Key + " method=%REQ(:METHOD)% authority=%REQ(:AUTHORITY)% peer=%DOWNSTREAM_PEER_URI_SAN% upstream=%UPSTREAM_HOST% code=%RESPONSE_CODE% flags=%RESPONSE_FLAGS%\n")}} } }
                      }
                    }],
                    "access_log_options": { "flush_access_log_on_new_request": true },
                    "route_config": {
                      "name": {{Quote("inbound|" + pod.Key)}},
                      "virtual_hosts": [{
                        "name": "pod",
                        "domains": ["*"],
                        "routes": [{
                          "match": { "connect_matcher": {}, "headers": [{ "name": ":authority", "string_match": { "safe_regex": { "regex": {{Quote(authority)}} } } }] },
                          "route": { "cluster": "{{InboundCluster}}", "upgrade_configs": [{ "upgrade_type": "CONNECT", "connect_config": {} }] }
                        }]
                      }]
                    },
                    "http_filters": [{ "name": "envoy.filters.http.router", "typed_config": { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }]
                  }
                }]
              }]
            }
            """);
        var tls = listener["filter_chains"]![0]!["transport_socket"]!["typed_config"]!.AsObject();
        tls["common_tls_context"] = CommonTls(pod.ServiceAccount, paths, trustPrefix);
        return listener;
    }

    private static JsonObject OutboundListener(EnrolledPod pod, ServicePortRoute route, string cluster, string? tunnelTo, ZtunnelPaths paths)
    {
        var proxy = new JsonObject
        {
            ["@type"] = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
            ["stat_prefix"] = $"outbound|{pod.Key}|{route.Key}",
            ["cluster"] = cluster,
            ["access_log"] = new JsonArray(Parse($$"""
                {
                  "name": "envoy.access_loggers.file",
                  "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
                    "path": {{Quote(paths.AccessLog)}},
                    "log_format": { "text_format_source": { "inline_string": {{Quote("outbound pod=" + pod.Key + " service=" + route.Key + " upstream=%UPSTREAM_HOST% flags=%RESPONSE_FLAGS%\n")}} } }
                  }
                }
                """)),
        };
        if (tunnelTo is not null)
        {
            var tunneling = new JsonObject { ["hostname"] = tunnelTo };
            if (pod.Baggage.Length > 0)
            {
                // The source pod's peer metadata, as ztunnel sends it: the waypoint reports the source workload from it.
                tunneling["headers_to_add"] = new JsonArray(new JsonObject
                {
                    ["header"] = new JsonObject { ["key"] = WorkloadBaggage.HeaderName, ["value"] = pod.Baggage },
                });
            }

            proxy["tunneling_config"] = tunneling;
        }

        return new JsonObject
        {
            ["name"] = OutboundListenerName(pod, route),
            ["address"] = Parse($$"""{ "socket_address": { "address": "{{route.Vip}}", "port_value": {{route.Port}}, "network_namespace_filepath": {{Quote(pod.NetworkNamespacePath)}} } }"""),
            ["filter_chains"] = new JsonArray(new JsonObject
            {
                ["filters"] = new JsonArray(new JsonObject { ["name"] = "envoy.filters.network.tcp_proxy", ["typed_config"] = proxy }),
            }),
        };
    }

    /// <summary>Pod-addressed tunnels of one ServiceAccount: original_dst restores podIP:targetPort from the endpoint metadata passed through.</summary>
    private static JsonObject OriginateListener(ServiceAccountKey account) => Parse($$"""
        {
          "name": {{Quote(OriginateListenerName(account))}},
          "internal_listener": {},
          "use_original_dst": false,
          "listener_filters": [{ "name": "envoy.filters.listener.original_dst", "typed_config": { "@type": "type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst" } }],
          "filter_chains": [{ "filters": [{
            "name": "envoy.filters.network.tcp_proxy",
            "typed_config": {
              "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
              "stat_prefix": {{Quote(OriginateListenerName(account))}},
              "cluster": {{Quote(HboneClusterName(account))}},
              "tunneling_config": { "hostname": "%DOWNSTREAM_LOCAL_ADDRESS%" }
            }
          }] }]
        }
        """);

    private static JsonObject DirectCluster(string name, ServiceAccountKey account, IReadOnlyList<HboneTarget> endpoints)
    {
        var cluster = Parse($$"""
            {
              "name": {{Quote(name)}},
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
        var lbEndpoints = new List<JsonNode>();
        foreach (var endpoint in endpoints)
        {
            lbEndpoints.Add(Parse($$"""
                {
                  "endpoint": { "address": { "envoy_internal_address": { "server_listener_name": {{Quote(OriginateListenerName(account))}}, "endpoint_id": "{{endpoint.Authority}}" } } },
                  "metadata": { "filter_metadata": { "envoy.filters.listener.original_dst": { "local": "{{endpoint.Authority}}" } } }
                }
                """));
        }

        cluster["load_assignment"] = LoadAssignment(name, lbEndpoints);
        return cluster;
    }

    /// <summary>An HBONE client cluster: HTTP/2 with CONNECT, TLS 1.3, ALPN h2, no SNI, the ServiceAccount's certificate, peers of the trust domain.</summary>
    private static JsonObject HboneCluster(string name, ServiceAccountKey account, ZtunnelPaths paths, string trustPrefix)
    {
        var cluster = Parse($$"""
            {
              "name": {{Quote(name)}},
              "connect_timeout": "5s",
              "typed_extension_protocol_options": {
                "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                  "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                  "explicit_http_config": { "http2_protocol_options": { "allow_connect": true } }
                }
              },
              "transport_socket": {
                "name": "envoy.transport_sockets.tls",
                "typed_config": { "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext" }
              }
            }
            """);
        cluster["transport_socket"]!["typed_config"]!.AsObject()["common_tls_context"] = CommonTls(account, paths, trustPrefix);
        return cluster;
    }

    private static JsonObject CommonTls(ServiceAccountKey account, ZtunnelPaths paths, string trustPrefix) => Parse($$"""
        {
          "tls_params": { "tls_minimum_protocol_version": "TLSv1_3", "tls_maximum_protocol_version": "TLSv1_3" },
          "alpn_protocols": ["h2"],
          "tls_certificate_sds_secret_configs": [{
            "name": {{Quote(account.FileName)}},
            "sds_config": { "resource_api_version": "V3", "path_config_source": { "path": {{Quote(paths.SecretFile(account.FileName))}}, "watched_directory": { "path": {{Quote(paths.KeyDirectory)}} } } }
          }],
          "validation_context": {
            "trusted_ca": { "filename": {{Quote(paths.RootCertificate)}} },
            "match_typed_subject_alt_names": [{ "san_type": "URI", "matcher": { "prefix": {{Quote(trustPrefix)}} } }]
          }
        }
        """);

    private static JsonObject SocketEndpoint(IPEndPoint endpoint) =>
        Parse($$"""{ "endpoint": { "address": { "socket_address": { "address": "{{endpoint.Address}}", "port_value": {{endpoint.Port}} } } } }""");

    private static JsonObject LoadAssignment(string cluster, IEnumerable<JsonNode> lbEndpoints) => new()
    {
        ["cluster_name"] = cluster,
        ["endpoints"] = new JsonArray(new JsonObject { ["lb_endpoints"] = new JsonArray([.. lbEndpoints]) }),
    };

    private static string Document(string version, string type, JsonArray resources)
    {
        // "@type" first: Envoy reads the Any's type before its fields.
        var typed = new JsonArray();
        foreach (var resource in resources)
        {
            var any = new JsonObject { ["@type"] = type };
            foreach (var (name, value) in resource!.AsObject())
            {
                any[name] = value?.DeepClone();
            }

            typed.Add(any);
        }

        return new JsonObject { ["version_info"] = version, ["resources"] = typed }.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    private static string Quote(string value) => JsonSerializer.Serialize(value);

    private static JsonObject Parse(string json) => JsonNode.Parse(json)!.AsObject();
}
