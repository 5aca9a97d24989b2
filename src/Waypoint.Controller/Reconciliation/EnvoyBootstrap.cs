using System.Text.Json.Nodes;

namespace Waypoint.Controller.Reconciliation;

/// <summary>
/// The static bootstrap of a waypoint Envoy (until the xDS server's bootstrap generator is wired in; same contract):
/// node.cluster <c>&lt;gateway&gt;.&lt;namespace&gt;</c> (node.id comes from <c>--service-node</c> per pod), ADS over gRPC
/// to the controller's xDS Service, <c>sds-grpc</c> on the pod-private agent socket, admin on 127.0.0.1:15000 and a
/// readiness listener on :15021 that answers <c>/healthz/ready</c> from the admin <c>/ready</c>.
/// </summary>
internal static class EnvoyBootstrap
{
    public const string SdsSocketDirectory = "/var/run/secrets/workload-spiffe-uds";
    public const string SdsSocketPath = SdsSocketDirectory + "/socket";
    public const int AdminPort = 15000;
    public const int HealthPort = 15021;
    public const string FileName = "envoy.json";

    public static string NodeCluster(string gateway, string ns) => $"{gateway}.{ns}";

    public static JsonObject Create(string gateway, string ns, string xdsHost, int xdsPort) => new()
    {
        ["node"] = new JsonObject
        {
            ["cluster"] = NodeCluster(gateway, ns),
            ["metadata"] = new JsonObject { ["gateway"] = gateway, ["namespace"] = ns },
        },
        ["admin"] = new JsonObject { ["address"] = SocketAddress("127.0.0.1", AdminPort) },
        ["dynamic_resources"] = new JsonObject
        {
            ["ads_config"] = new JsonObject
            {
                ["api_type"] = "GRPC",
                ["transport_api_version"] = "V3",
                ["set_node_on_first_message_only"] = true,
                ["grpc_services"] = new JsonArray(new JsonObject { ["envoy_grpc"] = new JsonObject { ["cluster_name"] = "xds-grpc" } }),
            },
            ["cds_config"] = new JsonObject { ["ads"] = new JsonObject(), ["resource_api_version"] = "V3" },
            ["lds_config"] = new JsonObject { ["ads"] = new JsonObject(), ["resource_api_version"] = "V3" },
        },
        ["static_resources"] = new JsonObject
        {
            ["clusters"] = new JsonArray(
                new JsonObject
                {
                    ["name"] = "xds-grpc",
                    ["type"] = "STRICT_DNS",
                    ["connect_timeout"] = "5s",
                    ["typed_extension_protocol_options"] = Http2Options(),
                    ["load_assignment"] = LoadAssignment("xds-grpc", SocketAddress(xdsHost, xdsPort)),
                },
                new JsonObject
                {
                    ["name"] = "sds-grpc",
                    ["type"] = "STATIC",
                    ["connect_timeout"] = "1s",
                    ["typed_extension_protocol_options"] = Http2Options(),
                    ["load_assignment"] = LoadAssignment("sds-grpc", new JsonObject { ["pipe"] = new JsonObject { ["path"] = SdsSocketPath } }),
                },
                new JsonObject
                {
                    ["name"] = "envoy-admin",
                    ["type"] = "STATIC",
                    ["connect_timeout"] = "1s",
                    ["load_assignment"] = LoadAssignment("envoy-admin", SocketAddress("127.0.0.1", AdminPort)),
                }),
            ["listeners"] = new JsonArray(new JsonObject
            {
                ["name"] = "health",
                ["address"] = SocketAddress("0.0.0.0", HealthPort),
                ["filter_chains"] = new JsonArray(new JsonObject
                {
                    ["filters"] = new JsonArray(new JsonObject
                    {
                        ["name"] = "envoy.filters.network.http_connection_manager",
                        ["typed_config"] = new JsonObject
                        {
                            ["@type"] = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                            ["stat_prefix"] = "health",
                            ["route_config"] = new JsonObject
                            {
                                ["name"] = "health",
                                ["virtual_hosts"] = new JsonArray(new JsonObject
                                {
                                    ["name"] = "health",
                                    ["domains"] = new JsonArray("*"),
                                    ["routes"] = new JsonArray(new JsonObject
                                    {
                                        ["match"] = new JsonObject { ["path"] = "/healthz/ready" },
                                        ["route"] = new JsonObject { ["cluster"] = "envoy-admin", ["prefix_rewrite"] = "/ready" },
                                    }),
                                }),
                            },
                            ["http_filters"] = new JsonArray(new JsonObject
                            {
                                ["name"] = "envoy.filters.http.router",
                                ["typed_config"] = new JsonObject { ["@type"] = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" },
                            }),
                        },
                    }),
                }),
            }),
        },
    };

    private static JsonObject SocketAddress(string address, int port) =>
        new() { ["socket_address"] = new JsonObject { ["address"] = address, ["port_value"] = port } };

    private static JsonObject LoadAssignment(string cluster, JsonObject address) => new()
    {
        ["cluster_name"] = cluster,
        ["endpoints"] = new JsonArray(new JsonObject
        {
            ["lb_endpoints"] = new JsonArray(new JsonObject { ["endpoint"] = new JsonObject { ["address"] = address } }),
        }),
    };

    private static JsonObject Http2Options() => new()
    {
        ["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"] = new JsonObject
        {
            ["@type"] = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            ["explicit_http_config"] = new JsonObject { ["http2_protocol_options"] = new JsonObject() },
        },
    };
}
