using Waypoint.TestKit.Envoy;
using Waypoint.TestKit.Http;

namespace Waypoint.EndToEnd.Tests.Harness;

public sealed class EnvoyHarnessTests
{
    [Fact]
    public async Task StaticEnvoy_ProxiesToEchoBackend_AndExposesAdmin()
    {
        await using var echo = await EchoBackend.StartAsync("echo-a");
        var bootstrap = $$"""
            static_resources:
              listeners:
              - name: ingress
                address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
                filter_chains:
                - filters:
                  - name: envoy.filters.network.http_connection_manager
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                      stat_prefix: ingress
                      route_config:
                        virtual_hosts:
                        - name: all
                          domains: ["*"]
                          routes: [{ match: { prefix: "/" }, route: { cluster: echo } }]
                      http_filters:
                      - name: envoy.filters.http.router
                        typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
              clusters:
              - name: echo
                type: STATIC
                load_assignment:
                  cluster_name: echo
                  endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: {{echo.EndPoint.Port}} } } } }] }]
            """;
        await using var envoy = await EnvoyProcess.StartAsync(bootstrap);
        var port = await envoy.GetListenerPortAsync("ingress");

        using var client = new HttpClient();
        var body = await client.GetStringAsync(new Uri($"http://127.0.0.1:{port}/hello?x=1"));

        var seen = EchoResponse.Parse(body);
        Assert.Equal("echo-a", seen.Backend);
        Assert.Equal("/hello", seen.Path);
        Assert.Equal("?x=1", seen.Query);
        Assert.True(seen.Headers.ContainsKey("x-request-id"), "Envoy adds x-request-id");
        Assert.Equal(1, await envoy.GetStatAsync("cluster.echo.upstream_rq_200"));
        var clusters = await envoy.GetConfigDumpSectionAsync("ClustersConfigDump");
        Assert.Contains("echo", clusters!.ToJsonString(), StringComparison.Ordinal);
    }
}
