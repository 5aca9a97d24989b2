using System.Text.Json.Serialization;
using k8s.Models;
using Waypoint.Transformation.Model;

namespace Waypoint.Translator.Model;

/// <summary>gateway.networking.k8s.io/v1 HTTPRoute, including the experimental <c>retry</c> field (GEP-1731).</summary>
[KubernetesEntity(Group = KubeGroup, Kind = KubeKind, ApiVersion = KubeApiVersion, PluralName = KubePluralName)]
public sealed record V1HTTPRoute() : KubernetesResource<V1HTTPRouteSpec, V1RouteStatus>(KubeGroup, KubeApiVersion, KubeKind)
{
    public const string KubeGroup = GatewayApi.Group;
    public const string KubeApiVersion = "v1";
    public const string KubeKind = "HTTPRoute";
    public const string KubePluralName = "httproutes";
}

public sealed record V1HTTPRouteSpec
{
    [JsonPropertyName("parentRefs")]
    public IList<ParentReference>? ParentRefs { get; set; }

    [JsonPropertyName("hostnames")]
    public IList<string>? Hostnames { get; set; }

    [JsonPropertyName("rules")]
    public IList<HTTPRouteRule>? Rules { get; set; }
}

public sealed record HTTPRouteRule
{
    [JsonPropertyName("name")]
    public string? Name { get; set; }

    [JsonPropertyName("matches")]
    public IList<HTTPRouteMatch>? Matches { get; set; }

    [JsonPropertyName("filters")]
    public IList<HTTPRouteFilter>? Filters { get; set; }

    [JsonPropertyName("backendRefs")]
    public IList<HTTPBackendRef>? BackendRefs { get; set; }

    [JsonPropertyName("timeouts")]
    public HTTPRouteTimeouts? Timeouts { get; set; }

    [JsonPropertyName("retry")]
    public HTTPRouteRetry? Retry { get; set; }
}

public sealed record HTTPRouteMatch
{
    [JsonPropertyName("path")]
    public HTTPPathMatch? Path { get; set; }

    [JsonPropertyName("headers")]
    public IList<HTTPHeaderMatch>? Headers { get; set; }

    [JsonPropertyName("queryParams")]
    public IList<HTTPQueryParamMatch>? QueryParams { get; set; }

    [JsonPropertyName("method")]
    public string? Method { get; set; }
}

public sealed record HTTPPathMatch
{
    /// <summary>Exact, PathPrefix (default) or RegularExpression.</summary>
    [JsonPropertyName("type")]
    public string? Type { get; set; }

    [JsonPropertyName("value")]
    public string? Value { get; set; }
}

public sealed record HTTPHeaderMatch
{
    /// <summary>Exact (default) or RegularExpression.</summary>
    [JsonPropertyName("type")]
    public string? Type { get; set; }

    [JsonPropertyName("name")]
    public string Name { get; set; } = "";

    [JsonPropertyName("value")]
    public string Value { get; set; } = "";
}

public sealed record HTTPQueryParamMatch
{
    [JsonPropertyName("type")]
    public string? Type { get; set; }

    [JsonPropertyName("name")]
    public string Name { get; set; } = "";

    [JsonPropertyName("value")]
    public string Value { get; set; } = "";
}

public sealed record HTTPRouteFilter
{
    /// <summary>RequestHeaderModifier, ResponseHeaderModifier, RequestRedirect, URLRewrite, RequestMirror, CORS or ExtensionRef.</summary>
    [JsonPropertyName("type")]
    public string Type { get; set; } = "";

    [JsonPropertyName("requestHeaderModifier")]
    public HTTPHeaderFilter? RequestHeaderModifier { get; set; }

    [JsonPropertyName("responseHeaderModifier")]
    public HTTPHeaderFilter? ResponseHeaderModifier { get; set; }

    [JsonPropertyName("requestRedirect")]
    public HTTPRequestRedirectFilter? RequestRedirect { get; set; }

    [JsonPropertyName("urlRewrite")]
    public HTTPURLRewriteFilter? UrlRewrite { get; set; }

    [JsonPropertyName("requestMirror")]
    public HTTPRequestMirrorFilter? RequestMirror { get; set; }

    [JsonPropertyName("extensionRef")]
    public LocalObjectReference? ExtensionRef { get; set; }
}

public sealed record LocalObjectReference
{
    [JsonPropertyName("group")]
    public string Group { get; set; } = "";

    [JsonPropertyName("kind")]
    public string Kind { get; set; } = "";

    [JsonPropertyName("name")]
    public string Name { get; set; } = "";
}

public sealed record HTTPHeaderFilter
{
    [JsonPropertyName("set")]
    public IList<HTTPHeader>? Set { get; set; }

    [JsonPropertyName("add")]
    public IList<HTTPHeader>? Add { get; set; }

    [JsonPropertyName("remove")]
    public IList<string>? Remove { get; set; }
}

public sealed record HTTPHeader
{
    [JsonPropertyName("name")]
    public string Name { get; set; } = "";

    [JsonPropertyName("value")]
    public string Value { get; set; } = "";
}

public sealed record HTTPRequestRedirectFilter
{
    [JsonPropertyName("scheme")]
    public string? Scheme { get; set; }

    [JsonPropertyName("hostname")]
    public string? Hostname { get; set; }

    [JsonPropertyName("path")]
    public HTTPPathModifier? Path { get; set; }

    [JsonPropertyName("port")]
    public int? Port { get; set; }

    [JsonPropertyName("statusCode")]
    public int? StatusCode { get; set; }
}

public sealed record HTTPURLRewriteFilter
{
    [JsonPropertyName("hostname")]
    public string? Hostname { get; set; }

    [JsonPropertyName("path")]
    public HTTPPathModifier? Path { get; set; }
}

public sealed record HTTPPathModifier
{
    /// <summary>ReplaceFullPath or ReplacePrefixMatch.</summary>
    [JsonPropertyName("type")]
    public string Type { get; set; } = "";

    [JsonPropertyName("replaceFullPath")]
    public string? ReplaceFullPath { get; set; }

    [JsonPropertyName("replacePrefixMatch")]
    public string? ReplacePrefixMatch { get; set; }
}

public sealed record HTTPRequestMirrorFilter
{
    [JsonPropertyName("backendRef")]
    public BackendObjectReference BackendRef { get; set; } = new();

    [JsonPropertyName("percent")]
    public int? Percent { get; set; }

    [JsonPropertyName("fraction")]
    public Fraction? Fraction { get; set; }
}

public sealed record Fraction
{
    [JsonPropertyName("numerator")]
    public int Numerator { get; set; }

    [JsonPropertyName("denominator")]
    public int? Denominator { get; set; }
}

/// <summary>Gateway API <c>BackendObjectReference</c>: where a backend ref or a mirror sends traffic.</summary>
/// <remarks>Open to inheritance because the spec inlines it into <see cref="BackendRef"/>, and so flat in JSON.</remarks>
public record BackendObjectReference
{
    [JsonPropertyName("group")]
    public string? Group { get; set; }

    [JsonPropertyName("kind")]
    public string? Kind { get; set; }

    [JsonPropertyName("name")]
    public string Name { get; set; } = "";

    [JsonPropertyName("namespace")]
    public string? Namespace { get; set; }

    [JsonPropertyName("port")]
    public int? Port { get; set; }
}

/// <summary>Gateway API <c>BackendRef</c>: a <see cref="BackendObjectReference"/> with a share of the traffic.</summary>
/// <remarks>
/// System.Text.Json writes a derived record's members before its base's; the orders on this chain keep the
/// spec's field order (reference, weight, filters).
/// </remarks>
public record BackendRef : BackendObjectReference
{
    /// <summary>Relative weight; defaults to 1. Zero means never chosen.</summary>
    [JsonPropertyName("weight")]
    [JsonPropertyOrder(1)]
    public int? Weight { get; set; }
}

/// <summary>Gateway API <c>HTTPBackendRef</c>: a <see cref="BackendRef"/> with filters applied only to requests sent to it.</summary>
public sealed record HTTPBackendRef : BackendRef
{
    [JsonPropertyName("filters")]
    [JsonPropertyOrder(2)]
    public IList<HTTPRouteFilter>? Filters { get; set; }
}

public sealed record HTTPRouteTimeouts
{
    /// <summary>Gateway API duration (e.g. <c>10s</c>, <c>500ms</c>, <c>1h30m</c>); <c>0s</c> disables.</summary>
    [JsonPropertyName("request")]
    public string? Request { get; set; }

    [JsonPropertyName("backendRequest")]
    public string? BackendRequest { get; set; }
}

/// <summary>Experimental HTTPRoute retry (GEP-1731).</summary>
public sealed record HTTPRouteRetry
{
    [JsonPropertyName("codes")]
    public IList<int>? Codes { get; set; }

    [JsonPropertyName("attempts")]
    public int? Attempts { get; set; }

    [JsonPropertyName("backoff")]
    public string? Backoff { get; set; }
}

/// <summary>Route status shared by route kinds: one entry per parent and controller.</summary>
public sealed record V1RouteStatus
{
    [JsonPropertyName("parents")]
    public IList<RouteParentStatus> Parents { get; set; } = [];
}

public sealed record RouteParentStatus
{
    [JsonPropertyName("parentRef")]
    public ParentReference ParentRef { get; set; } = new();

    [JsonPropertyName("controllerName")]
    public string ControllerName { get; set; } = "";

    [JsonPropertyName("conditions")]
    public IList<V1Condition> Conditions { get; set; } = [];
}

/// <summary>A list of HTTPRoutes, for the generic client.</summary>
[KubernetesEntity(Group = V1HTTPRoute.KubeGroup, Kind = "HTTPRouteList", ApiVersion = V1HTTPRoute.KubeApiVersion, PluralName = V1HTTPRoute.KubePluralName)]
public sealed record V1HTTPRouteList() : KubernetesResourceList<V1HTTPRoute>(V1HTTPRoute.KubeGroup, V1HTTPRoute.KubeApiVersion, "HTTPRouteList");
