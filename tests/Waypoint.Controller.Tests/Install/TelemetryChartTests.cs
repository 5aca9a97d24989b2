using System.Runtime.Versioning;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Waypoint.TestKit.Box;
using Waypoint.TestKit.Envoy;
using YamlDotNet.RepresentationModel;

namespace Waypoint.Controller.Tests.Install;

/// <summary>
/// The chart's metrics, access-log and tracing values, rendered and linted by real Helm, reach the settings the
/// controller binds (<c>Waypoint:Controller:*</c> from <c>Waypoint__Controller__*</c> environment variables).
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class TelemetryChartTests
{
    private static readonly string Chart = Path.Combine(
        EnvoyBinary.FindRepositoryRoot() ?? throw new InvalidOperationException("repository root not found"), "manifests", "charts", "waypoint");

    [Fact]
    public async Task Chart_Lints_With_Defaults_And_With_Tracing_And_Access_Logs_On()
    {
        var defaults = await BoxTools.HelmAsync(null, "lint", Chart, "--strict");
        Assert.True(defaults.Succeeded, defaults.ToString());

        var telemetry = await BoxTools.HelmAsync(null, "lint", Chart, "--strict",
            "--set", "accessLogs.enabled=true", "--set", "tracing.enabled=true", "--set", "tracing.collector=jaeger-collector.observability.svc:4317");
        Assert.True(telemetry.Succeeded, telemetry.ToString());
    }

    [Fact]
    public async Task Defaults_Turn_Access_Logs_And_Tracing_Off_And_Metrics_On()
    {
        var (environment, pod) = await RenderControllerAsync();
        var options = Bind(environment);

        Assert.False(options.Telemetry.AccessLogs);
        Assert.False(options.Telemetry.Tracing.Enabled);
        Assert.Null(options.Telemetry.ToTranslatorOptions().Tracing);
        Assert.True(options.RequestMetrics);
        Assert.Contains("--metrics-address=0.0.0.0:15014", Arguments(pod));
        var annotations = (YamlMappingNode)pod["metadata"]["annotations"];
        Assert.Equal("true", ((YamlScalarNode)annotations["prometheus.io/scrape"]).Value);
        Assert.Equal("15014", ((YamlScalarNode)annotations["prometheus.io/port"]).Value);
        var ports = ((YamlSequenceNode)((YamlSequenceNode)pod["spec"]["containers"])[0]["ports"]).Cast<YamlMappingNode>();
        Assert.Contains(ports, p => ((YamlScalarNode)p["name"]).Value == "http-monitoring" && ((YamlScalarNode)p["containerPort"]).Value == "15014");
    }

    [Fact]
    public async Task Telemetry_Values_Reach_The_Controller_Settings_And_The_Translator()
    {
        var (environment, _) = await RenderControllerAsync(
            "--set", "accessLogs.enabled=true", "--set", "tracing.enabled=true",
            "--set", "tracing.collector=jaeger-collector.observability.svc:4317", "--set-json", "tracing.samplingPercent=12.5");
        var options = Bind(environment);

        Assert.True(new WaypointControllerOptionsValidator().Validate(null, options).Succeeded);
        var translator = options.Telemetry.ToTranslatorOptions();
        Assert.True(translator.AccessLogs);
        Assert.Equal("jaeger-collector.observability.svc:4317", translator.Tracing!.Collector);
        Assert.Equal(12.5, translator.Tracing.SamplingPercent);
    }

    [Fact]
    public async Task Metrics_Off_Removes_The_Scrape_Annotations_And_Port()
    {
        var (environment, pod) = await RenderControllerAsync("--set", "metrics.enabled=false");

        Assert.Contains("--metrics-address=", Arguments(pod));
        Assert.False(((YamlMappingNode)pod["metadata"]).Children.ContainsKey(new YamlScalarNode("annotations")));
        var ports = ((YamlSequenceNode)((YamlSequenceNode)pod["spec"]["containers"])[0]["ports"]).Cast<YamlMappingNode>();
        Assert.DoesNotContain(ports, p => ((YamlScalarNode)p["name"]).Value == "http-monitoring");
    }

    [Theory]
    [InlineData("is required when tracing.enabled is true", "--set", "tracing.enabled=true")]
    [InlineData("/tracing/collector", "--set", "tracing.enabled=true", "--set", "tracing.collector=http://jaeger:4317")]
    [InlineData("/tracing/samplingPercent", "--set", "tracing.enabled=true", "--set", "tracing.collector=jaeger:4317", "--set-json", "tracing.samplingPercent=101")]
    [InlineData("/accessLogs/enabled", "--set-string", "accessLogs.enabled=yes")]
    public async Task Bad_Telemetry_Values_Fail_The_Render_Naming_The_Value(string expected, params string[] arguments)
    {
        var result = await BoxTools.HelmAsync(null, ["template", "waypoint", Chart, "--namespace", "waypoint-system", .. arguments]);

        Assert.False(result.Succeeded, result.ToString());
        Assert.Contains(expected, result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Validator_Rejects_Tracing_Without_A_Valid_Collector()
    {
        var options = new WaypointControllerOptions();
        options.Telemetry.Tracing.Enabled = true;
        var missing = new WaypointControllerOptionsValidator().Validate(null, options);
        options.Telemetry.Tracing.Collector = "jaeger:4317";
        options.Telemetry.Tracing.SamplingPercent = 200;
        var sampling = new WaypointControllerOptionsValidator().Validate(null, options);

        Assert.True(missing.Failed);
        Assert.Contains("Telemetry:Tracing:Collector", missing.FailureMessage, StringComparison.Ordinal);
        Assert.True(sampling.Failed);
        Assert.Contains("Telemetry:Tracing:SamplingPercent", sampling.FailureMessage, StringComparison.Ordinal);
    }

    /// <summary>The controller Deployment's container environment and its pod template, as <c>helm template</c> renders them.</summary>
    private static async Task<(Dictionary<string, string> Environment, YamlMappingNode Pod)> RenderControllerAsync(params string[] arguments)
    {
        var result = await BoxTools.HelmAsync(null, ["template", "waypoint", Chart, "--namespace", "waypoint-system", .. arguments]);
        Assert.True(result.Succeeded, result.ToString());
        var stream = new YamlStream();
        stream.Load(new StringReader(result.StandardOutput));
        var deployment = stream.Documents.Select(d => d.RootNode).OfType<YamlMappingNode>()
            .Single(n => n.Children.TryGetValue(new YamlScalarNode("kind"), out var kind) && ((YamlScalarNode)kind).Value == "Deployment");
        var pod = (YamlMappingNode)deployment["spec"]["template"];
        var container = (YamlMappingNode)((YamlSequenceNode)pod["spec"]["containers"])[0];
        var environment = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var variable in ((YamlSequenceNode)container["env"]).Cast<YamlMappingNode>())
        {
            if (variable.Children.TryGetValue(new YamlScalarNode("value"), out var value))
            {
                environment[((YamlScalarNode)variable["name"]).Value!] = ((YamlScalarNode)value).Value!;
            }
        }

        return (environment, pod);
    }

    /// <summary>The controller container's arguments.</summary>
    private static List<string> Arguments(YamlMappingNode pod) =>
        [.. ((YamlSequenceNode)((YamlMappingNode)((YamlSequenceNode)pod["spec"]["containers"])[0])["args"]).Cast<YamlScalarNode>().Select(a => a.Value!)];

    /// <summary>Binds the environment as the host does (<c>__</c> is the section separator) to the controller's settings.</summary>
    private static WaypointControllerOptions Bind(Dictionary<string, string> environment)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(environment.Select(p => new KeyValuePair<string, string?>(p.Key.Replace("__", ":", StringComparison.Ordinal), p.Value)))
            .Build();
        var options = new WaypointControllerOptions();
        configuration.GetSection("Waypoint:Controller").Bind(options);
        return options;
    }
}
