using System.Text.Json;
using System.Text.Json.Serialization;
using k8s.Models;
using Waypoint.Transformation.Model;

namespace Waypoint.Translator.Model;

/// <summary>
/// security.istio.io/v1 (and v1beta1) AuthorizationPolicy. The waypoint enforces only policies with <c>targetRefs</c>;
/// <c>selector</c> policies (and those with neither) belong to ztunnel and sidecars and are ignored here.
/// </summary>
/// <remarks>
/// Fields this model does not know land in <c>Unsupported</c> (JSON extension data) instead of vanishing, so a field
/// added by a newer Istio can never silently widen what a DENY lets through: compilation treats it as unsupported.
/// </remarks>
[KubernetesEntity(Group = KubeGroup, Kind = KubeKind, ApiVersion = KubeApiVersion, PluralName = KubePluralName)]
public sealed record V1AuthorizationPolicy() : KubernetesResource<AuthorizationPolicySpec, AuthorizationPolicyStatus>(KubeGroup, KubeApiVersion, KubeKind)
{
    public const string KubeGroup = "security.istio.io";
    public const string KubeApiVersion = "v1";
    public const string KubeKind = "AuthorizationPolicy";
    public const string KubePluralName = "authorizationpolicies";
}

public sealed record AuthorizationPolicySpec
{
    [JsonPropertyName("selector")]
    public WorkloadSelector? Selector { get; set; }

    /// <summary>Deprecated single form of <see cref="TargetRefs"/>; read as one more target.</summary>
    [JsonPropertyName("targetRef")]
    public IstioPolicyTargetReference? TargetRef { get; set; }

    [JsonPropertyName("targetRefs")]
    public IList<IstioPolicyTargetReference>? TargetRefs { get; set; }

    [JsonPropertyName("rules")]
    public IList<AuthorizationRule>? Rules { get; set; }

    /// <summary>ALLOW (default), DENY, AUDIT or CUSTOM.</summary>
    [JsonPropertyName("action")]
    public string? Action { get; set; }

    /// <summary>The extension provider of a CUSTOM policy.</summary>
    [JsonPropertyName("provider")]
    public AuthorizationProvider? Provider { get; set; }

    [JsonExtensionData]
    public IDictionary<string, JsonElement>? Unsupported { get; set; }
}

public sealed record WorkloadSelector
{
    [JsonPropertyName("matchLabels")]
    public IDictionary<string, string>? MatchLabels { get; set; }
}

/// <summary>Istio's <c>PolicyTargetReference</c>: group, kind and name, optionally a namespace (root namespace only).</summary>
public sealed record IstioPolicyTargetReference
{
    [JsonPropertyName("group")]
    public string? Group { get; set; }

    [JsonPropertyName("kind")]
    public string Kind { get; set; } = "";

    [JsonPropertyName("name")]
    public string Name { get; set; } = "";

    [JsonPropertyName("namespace")]
    public string? Namespace { get; set; }
}

public sealed record AuthorizationProvider
{
    /// <summary>An <c>extensionProviders</c> entry of the mesh config (ConfigMap <c>istio</c> in the root namespace).</summary>
    [JsonPropertyName("name")]
    public string? Name { get; set; }

    [JsonExtensionData]
    public IDictionary<string, JsonElement>? Unsupported { get; set; }
}

public sealed record AuthorizationRule
{
    [JsonPropertyName("from")]
    public IList<AuthorizationFrom>? From { get; set; }

    [JsonPropertyName("to")]
    public IList<AuthorizationTo>? To { get; set; }

    [JsonPropertyName("when")]
    public IList<AuthorizationCondition>? When { get; set; }

    [JsonExtensionData]
    public IDictionary<string, JsonElement>? Unsupported { get; set; }
}

public sealed record AuthorizationFrom
{
    [JsonPropertyName("source")]
    public AuthorizationSource? Source { get; set; }

    [JsonExtensionData]
    public IDictionary<string, JsonElement>? Unsupported { get; set; }
}

public sealed record AuthorizationSource
{
    [JsonPropertyName("principals")]
    public IList<string>? Principals { get; set; }

    [JsonPropertyName("notPrincipals")]
    public IList<string>? NotPrincipals { get; set; }

    [JsonPropertyName("requestPrincipals")]
    public IList<string>? RequestPrincipals { get; set; }

    [JsonPropertyName("notRequestPrincipals")]
    public IList<string>? NotRequestPrincipals { get; set; }

    [JsonPropertyName("namespaces")]
    public IList<string>? Namespaces { get; set; }

    [JsonPropertyName("notNamespaces")]
    public IList<string>? NotNamespaces { get; set; }

    [JsonPropertyName("ipBlocks")]
    public IList<string>? IpBlocks { get; set; }

    [JsonPropertyName("notIpBlocks")]
    public IList<string>? NotIpBlocks { get; set; }

    [JsonPropertyName("remoteIpBlocks")]
    public IList<string>? RemoteIpBlocks { get; set; }

    [JsonPropertyName("notRemoteIpBlocks")]
    public IList<string>? NotRemoteIpBlocks { get; set; }

    [JsonExtensionData]
    public IDictionary<string, JsonElement>? Unsupported { get; set; }
}

public sealed record AuthorizationTo
{
    [JsonPropertyName("operation")]
    public AuthorizationOperation? Operation { get; set; }

    [JsonExtensionData]
    public IDictionary<string, JsonElement>? Unsupported { get; set; }
}

public sealed record AuthorizationOperation
{
    [JsonPropertyName("hosts")]
    public IList<string>? Hosts { get; set; }

    [JsonPropertyName("notHosts")]
    public IList<string>? NotHosts { get; set; }

    [JsonPropertyName("ports")]
    public IList<string>? Ports { get; set; }

    [JsonPropertyName("notPorts")]
    public IList<string>? NotPorts { get; set; }

    [JsonPropertyName("methods")]
    public IList<string>? Methods { get; set; }

    [JsonPropertyName("notMethods")]
    public IList<string>? NotMethods { get; set; }

    [JsonPropertyName("paths")]
    public IList<string>? Paths { get; set; }

    [JsonPropertyName("notPaths")]
    public IList<string>? NotPaths { get; set; }

    [JsonExtensionData]
    public IDictionary<string, JsonElement>? Unsupported { get; set; }
}

public sealed record AuthorizationCondition
{
    [JsonPropertyName("key")]
    public string Key { get; set; } = "";

    [JsonPropertyName("values")]
    public IList<string>? Values { get; set; }

    [JsonPropertyName("notValues")]
    public IList<string>? NotValues { get; set; }

    [JsonExtensionData]
    public IDictionary<string, JsonElement>? Unsupported { get; set; }
}

/// <summary>
/// Our ancestor entries (one per enforcing waypoint, under our controller name) next to whatever else is in the
/// status (Istio's own <c>conditions</c> and <c>validationMessages</c>), which is kept as it is.
/// </summary>
public sealed record AuthorizationPolicyStatus
{
    [JsonPropertyName("ancestors")]
    public IList<PolicyAncestorStatus>? Ancestors { get; set; }

    [JsonExtensionData]
    public IDictionary<string, JsonElement>? Other { get; set; }
}
