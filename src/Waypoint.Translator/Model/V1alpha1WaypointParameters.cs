using System.Text.Json.Serialization;
using k8s;
using k8s.Models;

namespace Waypoint.Translator.Model;

/// <summary>
/// gateway.kgateway.dev/v1alpha1 WaypointParameters: per-class or per-Gateway overrides of the waypoint Deployment,
/// referenced from GatewayClass spec.parametersRef or Gateway spec.infrastructure.parametersRef.
/// </summary>
public sealed record V1alpha1WaypointParameters : IKubernetesObject<V1ObjectMeta>
{
    public const string KubeGroup = "gateway.kgateway.dev";
    public const string KubeKind = "WaypointParameters";
    public const string KubeApiVersion = "v1alpha1";
    public const string KubePluralName = "waypointparameters";

    [JsonPropertyName("apiVersion")]
    public string ApiVersion { get; set; } = KubeGroup + "/" + KubeApiVersion;

    [JsonPropertyName("kind")]
    public string Kind { get; set; } = KubeKind;

    [JsonPropertyName("metadata")]
    public V1ObjectMeta Metadata { get; set; } = new();

    [JsonPropertyName("spec")]
    public WaypointParametersSpec Spec { get; set; } = new();
}

public sealed record WaypointParametersSpec
{
    [JsonPropertyName("replicas")]
    public int? Replicas { get; set; }

    /// <summary>Extra labels for the Deployment, its pods, the Service and the ServiceAccount.</summary>
    [JsonPropertyName("labels")]
    public IDictionary<string, string>? Labels { get; set; }

    [JsonPropertyName("annotations")]
    public IDictionary<string, string>? Annotations { get; set; }

    [JsonPropertyName("envoy")]
    public WaypointContainerParameters? Envoy { get; set; }

    [JsonPropertyName("agent")]
    public WaypointContainerParameters? Agent { get; set; }

    /// <summary>Access logs and tracing of the waypoint Envoy; unset fields keep the class's, then the install's.</summary>
    [JsonPropertyName("telemetry")]
    public WaypointTelemetryParameters? Telemetry { get; set; }
}

public sealed record WaypointTelemetryParameters
{
    [JsonPropertyName("accessLogs")]
    public WaypointAccessLogParameters? AccessLogs { get; set; }

    [JsonPropertyName("tracing")]
    public WaypointTracingParameters? Tracing { get; set; }
}

public sealed record WaypointAccessLogParameters
{
    /// <summary>Istio's default JSON access log on Envoy's stdout.</summary>
    [JsonPropertyName("enabled")]
    public bool? Enabled { get; set; }
}

public sealed record WaypointTracingParameters
{
    [JsonPropertyName("enabled")]
    public bool? Enabled { get; set; }

    /// <summary>OTLP/gRPC collector, <c>host:port</c>.</summary>
    [JsonPropertyName("collector")]
    public string? Collector { get; set; }

    /// <summary>Share of requests that start a trace, 0–100.</summary>
    [JsonPropertyName("samplingPercent")]
    public double? SamplingPercent { get; set; }
}

public sealed record WaypointContainerParameters
{
    [JsonPropertyName("image")]
    public string? Image { get; set; }

    [JsonPropertyName("resources")]
    public V1ResourceRequirements? Resources { get; set; }

    /// <summary>Envoy's --log-level (trace, debug, info, warning, error, critical, off).</summary>
    [JsonPropertyName("logLevel")]
    public string? LogLevel { get; set; }
}
