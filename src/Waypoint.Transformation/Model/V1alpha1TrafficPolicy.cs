using System.Text.Json.Serialization;
using k8s.Models;

namespace Waypoint.Transformation.Model;

/// <summary>
/// gateway.kgateway.dev/v1alpha1 TrafficPolicy: the kgateway-compatible subset Waypoint honours
/// (transformation, retry, timeouts). Fields Waypoint does not implement are not modelled; the CRD
/// (manifests/crds/gateway.kgateway.dev_trafficpolicies.yaml) rejects them so a kgateway manifest never silently loses a feature.
/// </summary>
[KubernetesEntity(Group = KubeGroup, Kind = KubeKind, ApiVersion = KubeApiVersion, PluralName = KubePluralName)]
public sealed record V1alpha1TrafficPolicy() : KubernetesResource<V1alpha1TrafficPolicySpec, PolicyStatus>(KubeGroup, KubeApiVersion, KubeKind)
{
    public const string KubeGroup = "gateway.kgateway.dev";
    public const string KubeApiVersion = "v1alpha1";
    public const string KubeKind = "TrafficPolicy";
    public const string KubePluralName = "trafficpolicies";
}

/// <summary>A list of <see cref="V1alpha1TrafficPolicy"/>, as the API server returns it.</summary>
[KubernetesEntity(Group = V1alpha1TrafficPolicy.KubeGroup, Kind = "TrafficPolicyList", ApiVersion = V1alpha1TrafficPolicy.KubeApiVersion, PluralName = V1alpha1TrafficPolicy.KubePluralName)]
public sealed record V1alpha1TrafficPolicyList() : KubernetesResourceList<V1alpha1TrafficPolicy>(V1alpha1TrafficPolicy.KubeGroup, V1alpha1TrafficPolicy.KubeApiVersion, "TrafficPolicyList");

public sealed record V1alpha1TrafficPolicySpec
{
    /// <summary>HTTPRoutes (optionally one rule by <c>sectionName</c>) or the waypoint Gateway.</summary>
    [JsonPropertyName("targetRefs")]
    public IList<LocalPolicyTargetReferenceWithSectionName>? TargetRefs { get; set; }

    [JsonPropertyName("transformation")]
    public TransformationPolicy? Transformation { get; set; }

    [JsonPropertyName("retry")]
    public RetryPolicySpec? Retry { get; set; }

    [JsonPropertyName("timeouts")]
    public TimeoutsSpec? Timeouts { get; set; }
}

/// <summary>Gateway API <c>LocalPolicyTargetReferenceWithSectionName</c>.</summary>
public sealed record LocalPolicyTargetReferenceWithSectionName
{
    [JsonPropertyName("group")]
    public string Group { get; set; } = "";

    [JsonPropertyName("kind")]
    public string Kind { get; set; } = "";

    [JsonPropertyName("name")]
    public string Name { get; set; } = "";

    [JsonPropertyName("sectionName")]
    public string? SectionName { get; set; }
}

/// <summary>Request and response transformations (kgateway <c>TransformationPolicy</c>).</summary>
public sealed record TransformationPolicy
{
    [JsonPropertyName("request")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public TransformSpec? Request { get; set; }

    [JsonPropertyName("response")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public TransformSpec? Response { get; set; }
}

/// <summary>One direction's operations; header values and the body are Inja-style templates.</summary>
public sealed record TransformSpec
{
    [JsonPropertyName("set")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IList<HeaderTransformation>? Set { get; set; }

    [JsonPropertyName("add")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IList<HeaderTransformation>? Add { get; set; }

    [JsonPropertyName("remove")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IList<string>? Remove { get; set; }

    [JsonPropertyName("body")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public BodyTransformation? Body { get; set; }
}

public sealed record HeaderTransformation
{
    [JsonPropertyName("name")]
    public string Name { get; set; } = "";

    [JsonPropertyName("value")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Value { get; set; }
}

public sealed record BodyTransformation
{
    /// <summary><c>AsString</c> (default) or <c>AsJson</c>; see <see cref="BodyParseBehavior"/>.</summary>
    [JsonPropertyName("parseAs")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? ParseAs { get; set; }

    [JsonPropertyName("value")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Value { get; set; }
}

/// <summary>Values of <see cref="BodyTransformation.ParseAs"/>.</summary>
public static class BodyParseBehavior
{
    public const string AsString = "AsString";
    public const string AsJson = "AsJson";
}

/// <summary>kgateway <c>Retry</c>.</summary>
public sealed record RetryPolicySpec
{
    /// <summary>Envoy retry conditions: 5xx, gateway-error, reset, connect-failure, retriable-4xx, ... and gRPC status names.</summary>
    [JsonPropertyName("retryOn")]
    public IList<string>? RetryOn { get; set; }

    /// <summary>Retries after the first try; defaults to 1, 0 disables retries.</summary>
    [JsonPropertyName("attempts")]
    public int? Attempts { get; set; }

    /// <summary>Gateway API duration (e.g. <c>500ms</c>, <c>1s</c>) for each try, the first included.</summary>
    [JsonPropertyName("perTryTimeout")]
    public string? PerTryTimeout { get; set; }

    /// <summary>Status codes (400-599) retried in addition to <see cref="RetryOn"/>.</summary>
    [JsonPropertyName("statusCodes")]
    public IList<int>? StatusCodes { get; set; }

    /// <summary>Base of Envoy's jittered exponential back-off; defaults to 25ms.</summary>
    [JsonPropertyName("backoffBaseInterval")]
    public string? BackoffBaseInterval { get; set; }

    /// <summary><c>PreviousHosts</c> and/or <c>OmitCanaryHosts</c>.</summary>
    [JsonPropertyName("retryHostPredicates")]
    public IList<string>? RetryHostPredicates { get; set; }
}

/// <summary>kgateway <c>Timeouts</c>.</summary>
public sealed record TimeoutsSpec
{
    /// <summary>Whole-request timeout (route <c>timeout</c>), retries included.</summary>
    [JsonPropertyName("request")]
    public string? Request { get; set; }

    /// <summary>Stream idle timeout for the route (route <c>idle_timeout</c>).</summary>
    [JsonPropertyName("streamIdle")]
    public string? StreamIdle { get; set; }
}

/// <summary>Gateway API <c>PolicyStatus</c>: one entry per ancestor (here: the Gateway or HTTPRoute the policy attached to).</summary>
public sealed record PolicyStatus
{
    [JsonPropertyName("ancestors")]
    public IList<PolicyAncestorStatus> Ancestors { get; set; } = [];
}

public sealed record PolicyAncestorStatus
{
    [JsonPropertyName("ancestorRef")]
    public PolicyAncestorReference AncestorRef { get; set; } = new();

    [JsonPropertyName("controllerName")]
    public string ControllerName { get; set; } = "";

    [JsonPropertyName("conditions")]
    public IList<V1Condition> Conditions { get; set; } = [];
}

/// <summary>The Gateway or HTTPRoute a policy attached to, as named in its ancestor status.</summary>
public sealed record PolicyAncestorReference : GatewayParentReference;

/// <summary>Policy attachment condition types and reasons (GEP-713).</summary>
public static class PolicyConditions
{
    public const string Accepted = "Accepted";

    public const string ReasonAccepted = "Accepted";
    public const string ReasonConflicted = "Conflicted";
    public const string ReasonInvalid = "Invalid";
    public const string ReasonTargetNotFound = "TargetNotFound";
}
