using System.Text.Json.Nodes;
using Waypoint.Translator.Telemetry;

namespace Waypoint.Translator.Tests;

/// <summary>Where a waypoint's access-log and tracing settings come from, and what they change in its resources.</summary>
public sealed class TelemetryTranslationTests
{
    private static readonly WaypointKey Key = new("app", "waypoint");

    private static string WithGatewayParameters(string telemetry) =>
        TranslatorTestData.Base.Replace(
            "  gatewayClassName: kgateway-waypoint\n",
            "  gatewayClassName: kgateway-waypoint\n  infrastructure: {parametersRef: {group: gateway.kgateway.dev, kind: WaypointParameters, name: telemetry}}\n",
            StringComparison.Ordinal)
        + $$"""

        ---
        apiVersion: gateway.kgateway.dev/v1alpha1
        kind: WaypointParameters
        metadata: {name: telemetry, namespace: app}
        spec:
          telemetry: {{telemetry}}
        """
        + TranslatorTestData.Service("echo", "10.96.0.10");

    private static JsonObject Hcm(TranslationResult result)
    {
        var resources = EnvoyJson.ToNode(result.Waypoints[Key]);
        var main = resources["listeners"]!.AsArray().Single(l => l!["name"]!.ToString() == "main_internal")!;
        return main["filterChains"]!.AsArray().Single()!["filters"]!.AsArray().Single()!["typedConfig"]!.AsObject();
    }

    [Fact]
    public void Install_Defaults_Apply_To_Every_Waypoint_Without_Parameters()
    {
        var translator = new WaypointTranslator(new TranslatorOptions
        {
            Telemetry = new TelemetryOptions { AccessLogs = true, Tracing = new TracingOptions { Collector = "jaeger-collector.observability.svc:4317", SamplingPercent = 2.5 } },
        });

        var result = translator.Translate(TranslatorTestData.Load(TranslatorTestData.Base + TranslatorTestData.Service("echo", "10.96.0.10")));

        var hcm = Hcm(result);
        Assert.Equal("/dev/stdout", hcm["accessLog"]![0]!["typedConfig"]!["path"]!.ToString());
        Assert.Equal(2.5, hcm["tracing"]!["randomSampling"]!["value"]!.GetValue<double>());
        var provider = hcm["tracing"]!["provider"]!["typedConfig"]!;
        Assert.Equal("waypoint.app", provider["serviceName"]!.ToString());
        Assert.Equal("opentelemetry-collector", provider["grpcService"]!["envoyGrpc"]!["clusterName"]!.ToString());
        var collector = EnvoyJson.ToNode(result.Waypoints[Key])["clusters"]!.AsArray().Single(c => c!["name"]!.ToString() == "opentelemetry-collector")!;
        Assert.Equal("STRICT_DNS", collector["type"]!.ToString());
        Assert.Equal("jaeger-collector.observability.svc", collector["loadAssignment"]!["endpoints"]![0]!["lbEndpoints"]![0]!["endpoint"]!["address"]!["socketAddress"]!["address"]!.ToString());
    }

    [Fact]
    public void Gateway_Parameters_Override_The_Install_Defaults_Field_By_Field()
    {
        var translator = new WaypointTranslator(new TranslatorOptions
        {
            Telemetry = new TelemetryOptions { AccessLogs = true, Tracing = new TracingOptions { Collector = "jaeger:4317" } },
        });

        var off = translator.Translate(TranslatorTestData.Load(WithGatewayParameters("{accessLogs: {enabled: false}, tracing: {enabled: false}}")));
        Assert.False(Hcm(off).ContainsKey("accessLog"));
        Assert.False(Hcm(off).ContainsKey("tracing"));
        Assert.DoesNotContain(off.Waypoints[Key].Clusters, c => c.Name == "opentelemetry-collector");

        var sampling = translator.Translate(TranslatorTestData.Load(WithGatewayParameters("{tracing: {samplingPercent: 50}}")));
        Assert.Equal(50, Hcm(sampling)["tracing"]!["randomSampling"]!["value"]!.GetValue<double>());
        Assert.Equal("jaeger:4317", Hcm(sampling)["tracing"]!["provider"]!["typedConfig"]!["grpcService"]!["envoyGrpc"]!["authority"]!.ToString());
        Assert.True(Hcm(sampling).ContainsKey("accessLog"));
    }

    [Fact]
    public void Sampling_Outside_0_To_100_Rejects_The_Gateway_Naming_The_Setting()
    {
        var translator = new WaypointTranslator(new TranslatorOptions
        {
            Telemetry = new TelemetryOptions { Tracing = new TracingOptions { Collector = "jaeger:4317", SamplingPercent = 150 } },
        });

        var result = translator.Translate(TranslatorTestData.Load(TranslatorTestData.Base + TranslatorTestData.Service("echo", "10.96.0.10")));

        Assert.Empty(result.Waypoints);
        var accepted = Assert.Single(Assert.Single(result.Gateways).Conditions, c => c.Type == "Accepted");
        Assert.Equal(("False", "InvalidParameters"), (accepted.Status, accepted.Reason));
        Assert.Equal("Tracing samplingPercent 150 (the controller's tracing settings) is not between 0 and 100.", accepted.Message);
    }

    /// <summary>A settings change rebuilds the chains (the chain cache is keyed by the settings too), and back again.</summary>
    [Fact]
    public void Changing_Telemetry_Rebuilds_The_Chains_The_Cache_Had()
    {
        var translator = new WaypointTranslator();
        var plain = TranslatorTestData.Load(WithGatewayParameters("{accessLogs: {enabled: false}}"));
        var logged = TranslatorTestData.Load(WithGatewayParameters("{accessLogs: {enabled: true}}"));

        var before = translator.Translate(plain);
        var after = translator.Translate(logged);
        var back = translator.Translate(plain);

        Assert.False(Hcm(before).ContainsKey("accessLog"));
        Assert.True(Hcm(after).ContainsKey("accessLog"));
        Assert.False(Hcm(back).ContainsKey("accessLog"));
        Assert.NotEqual(before.Waypoints[Key].Version, after.Waypoints[Key].Version);
        Assert.Equal(before.Waypoints[Key].Version, back.Waypoints[Key].Version);
    }

    [Theory]
    [InlineData("otel:4317", true)]
    [InlineData("otel-collector.observability.svc.cluster.local:4317", true)]
    [InlineData("10.0.0.7:4317", true)]
    [InlineData("[fd00::7]:4317", true)]
    [InlineData("otel", false)]
    [InlineData("otel:0", false)]
    [InlineData("otel:65536", false)]
    [InlineData("fd00::7:4317", false)]
    [InlineData("http://otel:4317", false)]
    [InlineData(":4317", false)]
    [InlineData("otel_collector:4317", false)]
    public void Collector_Must_Be_Host_And_Port(string collector, bool valid) =>
        Assert.Equal(valid, TracingOptions.IsValidCollector(collector));
}
