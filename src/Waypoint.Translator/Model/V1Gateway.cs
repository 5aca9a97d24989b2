using System.Text.Json.Serialization;
using k8s.Models;
using Waypoint.Transformation.Model;

namespace Waypoint.Translator.Model;

/// <summary>gateway.networking.k8s.io/v1 Gateway.</summary>
[KubernetesEntity(Group = KubeGroup, Kind = KubeKind, ApiVersion = KubeApiVersion, PluralName = KubePluralName)]
public sealed record V1Gateway() : KubernetesResource<V1GatewaySpec, V1GatewayStatus>(KubeGroup, KubeApiVersion, KubeKind)
{
    public const string KubeGroup = GatewayApi.Group;
    public const string KubeApiVersion = "v1";
    public const string KubeKind = "Gateway";
    public const string KubePluralName = "gateways";
}

public sealed record V1GatewaySpec
{
    [JsonPropertyName("gatewayClassName")]
    public string GatewayClassName { get; set; } = "";

    [JsonPropertyName("listeners")]
    public IList<GatewayListener> Listeners { get; set; } = [];

    [JsonPropertyName("addresses")]
    public IList<GatewaySpecAddress>? Addresses { get; set; }

    [JsonPropertyName("infrastructure")]
    public GatewayInfrastructure? Infrastructure { get; set; }
}

public sealed record GatewayInfrastructure
{
    [JsonPropertyName("labels")]
    public IDictionary<string, string>? Labels { get; set; }

    [JsonPropertyName("annotations")]
    public IDictionary<string, string>? Annotations { get; set; }

    /// <summary>Gateway API <c>LocalParametersReference</c> (no namespace: the Gateway's own).</summary>
    [JsonPropertyName("parametersRef")]
    public ParametersReference? ParametersRef { get; set; }
}

public sealed record GatewaySpecAddress
{
    [JsonPropertyName("type")]
    public string? Type { get; set; }

    [JsonPropertyName("value")]
    public string? Value { get; set; }
}

public sealed record GatewayListener
{
    [JsonPropertyName("name")]
    public string Name { get; set; } = "";

    [JsonPropertyName("hostname")]
    public string? Hostname { get; set; }

    [JsonPropertyName("port")]
    public int Port { get; set; }

    [JsonPropertyName("protocol")]
    public string Protocol { get; set; } = "";

    [JsonPropertyName("tls")]
    public GatewayTlsConfig? Tls { get; set; }

    [JsonPropertyName("allowedRoutes")]
    public AllowedRoutes? AllowedRoutes { get; set; }
}

public sealed record GatewayTlsConfig
{
    [JsonPropertyName("mode")]
    public string? Mode { get; set; }

    [JsonPropertyName("certificateRefs")]
    public IList<SecretObjectReference>? CertificateRefs { get; set; }
}

public sealed record SecretObjectReference
{
    [JsonPropertyName("group")]
    public string? Group { get; set; }

    [JsonPropertyName("kind")]
    public string? Kind { get; set; }

    [JsonPropertyName("name")]
    public string Name { get; set; } = "";

    [JsonPropertyName("namespace")]
    public string? Namespace { get; set; }
}

public sealed record AllowedRoutes
{
    [JsonPropertyName("namespaces")]
    public RouteNamespaces? Namespaces { get; set; }

    [JsonPropertyName("kinds")]
    public IList<RouteGroupKind>? Kinds { get; set; }
}

public sealed record RouteNamespaces
{
    /// <summary>All, Same (default) or Selector.</summary>
    [JsonPropertyName("from")]
    public string? From { get; set; }

    [JsonPropertyName("selector")]
    public V1LabelSelector? Selector { get; set; }
}

public sealed record V1GatewayStatus
{
    [JsonPropertyName("addresses")]
    public IList<GatewayStatusAddress>? Addresses { get; set; }

    [JsonPropertyName("conditions")]
    public IList<V1Condition>? Conditions { get; set; }

    [JsonPropertyName("listeners")]
    public IList<ListenerStatus>? Listeners { get; set; }
}

public sealed record GatewayStatusAddress
{
    /// <summary>IPAddress or Hostname.</summary>
    [JsonPropertyName("type")]
    public string? Type { get; set; }

    [JsonPropertyName("value")]
    public string Value { get; set; } = "";
}

public sealed record ListenerStatus
{
    [JsonPropertyName("name")]
    public string Name { get; set; } = "";

    [JsonPropertyName("supportedKinds")]
    public IList<RouteGroupKind> SupportedKinds { get; set; } = [];

    [JsonPropertyName("attachedRoutes")]
    public int AttachedRoutes { get; set; }

    [JsonPropertyName("conditions")]
    public IList<V1Condition> Conditions { get; set; } = [];
}

/// <summary>A list of Gateways, for the generic client.</summary>
[KubernetesEntity(Group = V1Gateway.KubeGroup, Kind = "GatewayList", ApiVersion = V1Gateway.KubeApiVersion, PluralName = V1Gateway.KubePluralName)]
public sealed record V1GatewayList() : KubernetesResourceList<V1Gateway>(V1Gateway.KubeGroup, V1Gateway.KubeApiVersion, "GatewayList");
