using System.Diagnostics;
using System.Text.Json.Nodes;
using Waypoint.TestKit.Envoy;
using Waypoint.Xds.Bootstrap;

namespace Waypoint.Xds.Tests.Bootstrap;

public sealed class EnvoyBootstrapBuilderTests
{
    private static EnvoyBootstrapOptions Options(XdsProtocol protocol = XdsProtocol.StateOfTheWorld, string host = "10.0.0.7") => new()
    {
        NodeId = "waypoint-abc.ns",
        NodeCluster = "waypoint.ns",
        NodeMetadata = new Dictionary<string, string> { ["WAYPOINT"] = "waypoint" },
        XdsHost = host,
        Protocol = protocol,
    };

    [Fact]
    public void Build_HasNodeAdsInternalListenerSdsAdminAndHealth()
    {
        var json = JsonNode.Parse(EnvoyBootstrapBuilder.RenderJson(EnvoyBootstrapBuilder.Build(Options(XdsProtocol.Delta))))!;

        Assert.Equal("waypoint-abc.ns", json["node"]!["id"]!.GetValue<string>());
        Assert.Equal("waypoint.ns", json["node"]!["cluster"]!.GetValue<string>());
        Assert.Equal("waypoint", json["node"]!["metadata"]!["WAYPOINT"]!.GetValue<string>());
        var ads = json["dynamic_resources"]!["ads_config"]!;
        Assert.Equal("DELTA_GRPC", ads["api_type"]!.GetValue<string>());
        Assert.Equal("V3", ads["transport_api_version"]!.GetValue<string>());
        Assert.True(ads["set_node_on_first_message_only"]!.GetValue<bool>());
        Assert.Equal("xds-grpc", ads["grpc_services"]![0]!["envoy_grpc"]!["cluster_name"]!.GetValue<string>());
        Assert.NotNull(json["dynamic_resources"]!["lds_config"]!["ads"]);
        Assert.NotNull(json["dynamic_resources"]!["cds_config"]!["ads"]);

        var extension = json["bootstrap_extensions"]![0]!;
        Assert.Equal("envoy.bootstrap.internal_listener", extension["name"]!.GetValue<string>());
        Assert.Equal(64, extension["typed_config"]!["buffer_size_kb"]!.GetValue<int>());

        var clusters = json["static_resources"]!["clusters"]!.AsArray();
        var xds = clusters.Single(c => c!["name"]!.GetValue<string>() == "xds-grpc")!;
        Assert.Equal("STATIC", xds["type"]!.GetValue<string>());
        Assert.NotNull(xds["typed_extension_protocol_options"]!["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]!["explicit_http_config"]!["http2_protocol_options"]);
        var sds = clusters.Single(c => c!["name"]!.GetValue<string>() == "sds-grpc")!;
        Assert.Equal(EnvoyBootstrapOptions.DefaultSdsSocketPath,
            sds["load_assignment"]!["endpoints"]![0]!["lb_endpoints"]![0]!["endpoint"]!["address"]!["pipe"]!["path"]!.GetValue<string>());
        Assert.Equal("127.0.0.1", json["admin"]!["address"]!["socket_address"]!["address"]!.GetValue<string>());
        Assert.Equal(15000, json["admin"]!["address"]!["socket_address"]!["port_value"]!.GetValue<int>());
        Assert.Equal(15021, json["static_resources"]!["listeners"]![0]!["address"]!["socket_address"]!["port_value"]!.GetValue<int>());
    }

    [Fact]
    public void Build_WithServerIdentity_DialsMutualTlsWithTheAgentsSecrets_AndPinsTheIdentity()
    {
        const string controller = "spiffe://cluster.local/ns/waypoint-system/sa/waypoint-controller";
        var json = JsonNode.Parse(EnvoyBootstrapBuilder.RenderJson(EnvoyBootstrapBuilder.Build(Options() with { XdsServerIdentity = controller })))!;

        var xds = json["static_resources"]!["clusters"]!.AsArray().Single(c => c!["name"]!.GetValue<string>() == EnvoyBootstrapBuilder.XdsClusterName)!;
        var tls = xds["transport_socket"]!["typed_config"]!["common_tls_context"]!;
        Assert.Equal(["h2"], tls["alpn_protocols"]!.AsArray().Select(a => a!.GetValue<string>()));
        var certificate = Assert.Single(tls["tls_certificate_sds_secret_configs"]!.AsArray())!;
        Assert.Equal("default", certificate["name"]!.GetValue<string>());
        Assert.Equal(EnvoyBootstrapBuilder.SdsClusterName, certificate["sds_config"]!["api_config_source"]!["grpc_services"]![0]!["envoy_grpc"]!["cluster_name"]!.GetValue<string>());
        var validation = tls["combined_validation_context"]!;
        Assert.Equal("ROOTCA", validation["validation_context_sds_secret_config"]!["name"]!.GetValue<string>());
        var san = Assert.Single(validation["default_validation_context"]!["match_typed_subject_alt_names"]!.AsArray())!;
        Assert.Equal("URI", san["san_type"]!.GetValue<string>());
        Assert.Equal(controller, san["matcher"]!["exact"]!.GetValue<string>());

        // Without an identity: plaintext, as waypoint local and tests use it.
        var plain = JsonNode.Parse(EnvoyBootstrapBuilder.RenderJson(EnvoyBootstrapBuilder.Build(Options())))!;
        Assert.Null(plain["static_resources"]!["clusters"]!.AsArray().Single(c => c!["name"]!.GetValue<string>() == EnvoyBootstrapBuilder.XdsClusterName)!["transport_socket"]);
    }

    [Theory]
    [InlineData("spiffe://cluster.local/ns/waypoint-system")]
    [InlineData("waypoint-xds.waypoint-system.svc")]
    public void Build_RefusesAServerIdentityThatIsNotAWorkloadId(string identity) =>
        Assert.Throws<ArgumentException>(() => EnvoyBootstrapBuilder.Build(Options() with { XdsServerIdentity = identity }));

    [Fact]
    public void Build_RefusesMutualTlsWithoutTheSdsCluster() =>
        Assert.Throws<ArgumentException>(() => EnvoyBootstrapBuilder.Build(Options() with
        {
            XdsServerIdentity = "spiffe://cluster.local/ns/waypoint-system/sa/waypoint-controller",
            IncludeSdsCluster = false,
        }));

    [Fact]
    public void Build_WithHostname_UsesStrictDns_AndSotwIsGrpc()
    {
        var json = JsonNode.Parse(EnvoyBootstrapBuilder.RenderJson(EnvoyBootstrapBuilder.Build(Options(host: "waypoint-controller.waypoint-system.svc"))))!;
        Assert.Equal("GRPC", json["dynamic_resources"]!["ads_config"]!["api_type"]!.GetValue<string>());
        var xds = json["static_resources"]!["clusters"]!.AsArray().Single(c => c!["name"]!.GetValue<string>() == "xds-grpc")!;
        Assert.Equal("STRICT_DNS", xds["type"]!.GetValue<string>());
    }

    [Theory]
    [InlineData(XdsProtocol.StateOfTheWorld, "10.0.0.7", false)]
    [InlineData(XdsProtocol.Delta, "xds.waypoint-system.svc", false)]
    [InlineData(XdsProtocol.Delta, "127.0.0.1", true)]
    public async Task RealEnvoy_ValidatesTheBootstrap(XdsProtocol protocol, string host, bool yaml)
    {
        var bootstrap = EnvoyBootstrapBuilder.Build(Options(protocol, host));
        var directory = Directory.CreateTempSubdirectory("waypoint-bootstrap-").FullName;
        try
        {
            var path = Path.Combine(directory, yaml ? "bootstrap.yaml" : "bootstrap.json");
            await File.WriteAllTextAsync(path, yaml ? EnvoyBootstrapBuilder.RenderYaml(bootstrap) : EnvoyBootstrapBuilder.RenderJson(bootstrap));
            var start = new ProcessStartInfo(EnvoyBinary.Locate())
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                WorkingDirectory = directory,
            };
            foreach (var arg in new[] { "--mode", "validate", "-c", path, "--disable-hot-restart", "-l", "warn" })
            {
                start.ArgumentList.Add(arg);
            }

            using var process = Process.Start(start)!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await process.WaitForExitAsync(timeout.Token);
            Assert.True(process.ExitCode == 0, $"envoy --mode validate failed ({process.ExitCode}):\n{await stdout}\n{await stderr}");
            Assert.Contains("OK", await stdout + await stderr, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
