using System.Text.Json;
using System.Text.Json.Serialization;
using k8s;
using k8s.Models;

namespace Waypoint.Controller.Reconciliation;

/// <summary>
/// gateway.kgateway.dev/v1alpha1 WaypointParameters: per-class or per-Gateway overrides of the waypoint Deployment,
/// referenced from GatewayClass spec.parametersRef or Gateway spec.infrastructure.parametersRef.
/// </summary>
public sealed record V1alpha1WaypointParameters : IKubernetesObject<V1ObjectMeta>
{
    public const string KubeGroup = "gateway.kgateway.dev";
    public const string KubeKind = "WaypointParameters";

    [JsonPropertyName("apiVersion")]
    public string ApiVersion { get; set; } = KubeGroup + "/v1alpha1";

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

/// <summary>An object the controller only watches for change (TrafficPolicy until its semantics land): metadata plus raw JSON.</summary>
public sealed record UnstructuredObject : IKubernetesObject<V1ObjectMeta>
{
    [JsonPropertyName("apiVersion")]
    public string ApiVersion { get; set; } = "";

    [JsonPropertyName("kind")]
    public string Kind { get; set; } = "";

    [JsonPropertyName("metadata")]
    public V1ObjectMeta Metadata { get; set; } = new();

    [JsonExtensionData]
    public IDictionary<string, JsonElement>? Fields { get; set; }
}
