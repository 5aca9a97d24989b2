using System.Text.Json;
using System.Text.Json.Serialization;
using k8s.Models;
using Waypoint.Transformation.Model;

namespace Waypoint.Translator.Model;

/// <summary>
/// security.istio.io/v1 (and v1beta1) RequestAuthentication: JWT issuers a waypoint validates (targetRefs only, as for
/// AuthorizationPolicy), so that <c>requestPrincipals</c> and <c>request.auth.*</c> conditions can match.
/// </summary>
[KubernetesEntity(Group = KubeGroup, Kind = KubeKind, ApiVersion = KubeApiVersion, PluralName = KubePluralName)]
public sealed record V1RequestAuthentication() : KubernetesResource<RequestAuthenticationSpec, AuthorizationPolicyStatus>(KubeGroup, KubeApiVersion, KubeKind)
{
    public const string KubeGroup = "security.istio.io";
    public const string KubeApiVersion = "v1";
    public const string KubeKind = "RequestAuthentication";
    public const string KubePluralName = "requestauthentications";
}

public sealed record RequestAuthenticationSpec
{
    [JsonPropertyName("selector")]
    public WorkloadSelector? Selector { get; set; }

    [JsonPropertyName("targetRef")]
    public IstioPolicyTargetReference? TargetRef { get; set; }

    [JsonPropertyName("targetRefs")]
    public IList<IstioPolicyTargetReference>? TargetRefs { get; set; }

    [JsonPropertyName("jwtRules")]
    public IList<JwtRule>? JwtRules { get; set; }

    [JsonExtensionData]
    public IDictionary<string, JsonElement>? Unsupported { get; set; }
}

public sealed record JwtRule
{
    [JsonPropertyName("issuer")]
    public string? Issuer { get; set; }

    [JsonPropertyName("audiences")]
    public IList<string>? Audiences { get; set; }

    [JsonPropertyName("jwksUri")]
    public string? JwksUri { get; set; }

    /// <summary>Inline JWKS (JSON).</summary>
    [JsonPropertyName("jwks")]
    public string? Jwks { get; set; }

    [JsonPropertyName("fromHeaders")]
    public IList<JwtHeaderSource>? FromHeaders { get; set; }

    [JsonPropertyName("fromParams")]
    public IList<string>? FromParams { get; set; }

    [JsonPropertyName("fromCookies")]
    public IList<string>? FromCookies { get; set; }

    [JsonPropertyName("outputPayloadToHeader")]
    public string? OutputPayloadToHeader { get; set; }

    [JsonPropertyName("forwardOriginalToken")]
    public bool? ForwardOriginalToken { get; set; }

    [JsonPropertyName("outputClaimToHeaders")]
    public IList<JwtClaimToHeaderSpec>? OutputClaimToHeaders { get; set; }

    /// <summary>JWKS fetch timeout (Go duration, default 5s).</summary>
    [JsonPropertyName("timeout")]
    public string? Timeout { get; set; }

    [JsonExtensionData]
    public IDictionary<string, JsonElement>? Unsupported { get; set; }
}

public sealed record JwtHeaderSource
{
    [JsonPropertyName("name")]
    public string Name { get; set; } = "";

    [JsonPropertyName("prefix")]
    public string? Prefix { get; set; }
}

public sealed record JwtClaimToHeaderSpec
{
    [JsonPropertyName("header")]
    public string Header { get; set; } = "";

    [JsonPropertyName("claim")]
    public string Claim { get; set; } = "";
}
