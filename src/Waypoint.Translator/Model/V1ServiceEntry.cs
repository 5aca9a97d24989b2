using System.Text.Json.Serialization;
using k8s.Models;
using Waypoint.Transformation.Model;

namespace Waypoint.Translator.Model;

/// <summary>networking.istio.io/v1 ServiceEntry (the fields a waypoint reads).</summary>
[KubernetesEntity(Group = KubeGroup, Kind = KubeKind, ApiVersion = KubeApiVersion, PluralName = KubePluralName)]
public sealed record V1ServiceEntry() : KubernetesResource<V1ServiceEntrySpec, V1ServiceEntryStatus>(KubeGroup, KubeApiVersion, KubeKind)
{
    public const string KubeGroup = "networking.istio.io";
    public const string KubeApiVersion = "v1";
    public const string KubeKind = "ServiceEntry";
    public const string KubePluralName = "serviceentries";
}

public sealed record V1ServiceEntrySpec
{
    [JsonPropertyName("hosts")]
    public IList<string> Hosts { get; set; } = [];

    [JsonPropertyName("addresses")]
    public IList<string>? Addresses { get; set; }

    [JsonPropertyName("ports")]
    public IList<ServiceEntryPort>? Ports { get; set; }

    /// <summary>MESH_EXTERNAL (default) or MESH_INTERNAL.</summary>
    [JsonPropertyName("location")]
    public string? Location { get; set; }

    /// <summary>NONE, STATIC, DNS or DNS_ROUND_ROBIN.</summary>
    [JsonPropertyName("resolution")]
    public string? Resolution { get; set; }

    [JsonPropertyName("endpoints")]
    public IList<ServiceEntryEndpoint>? Endpoints { get; set; }

    [JsonPropertyName("workloadSelector")]
    public ServiceEntryWorkloadSelector? WorkloadSelector { get; set; }

    [JsonPropertyName("exportTo")]
    public IList<string>? ExportTo { get; set; }

    [JsonPropertyName("subjectAltNames")]
    public IList<string>? SubjectAltNames { get; set; }
}

public sealed record ServiceEntryPort
{
    [JsonPropertyName("number")]
    public int Number { get; set; }

    [JsonPropertyName("protocol")]
    public string? Protocol { get; set; }

    [JsonPropertyName("name")]
    public string Name { get; set; } = "";

    [JsonPropertyName("targetPort")]
    public int? TargetPort { get; set; }
}

public sealed record ServiceEntryEndpoint
{
    [JsonPropertyName("address")]
    public string? Address { get; set; }

    [JsonPropertyName("ports")]
    public IDictionary<string, int>? Ports { get; set; }

    [JsonPropertyName("labels")]
    public IDictionary<string, string>? Labels { get; set; }

    [JsonPropertyName("network")]
    public string? Network { get; set; }

    [JsonPropertyName("locality")]
    public string? Locality { get; set; }

    [JsonPropertyName("weight")]
    public int? Weight { get; set; }

    [JsonPropertyName("serviceAccount")]
    public string? ServiceAccount { get; set; }
}

public sealed record ServiceEntryWorkloadSelector
{
    [JsonPropertyName("labels")]
    public IDictionary<string, string>? Labels { get; set; }
}

public sealed record V1ServiceEntryStatus
{
    /// <summary>Addresses auto-allocated by istiod.</summary>
    [JsonPropertyName("addresses")]
    public IList<ServiceEntryAddress>? Addresses { get; set; }

    [JsonPropertyName("conditions")]
    public IList<V1Condition>? Conditions { get; set; }
}

public sealed record ServiceEntryAddress
{
    [JsonPropertyName("value")]
    public string Value { get; set; } = "";

    [JsonPropertyName("host")]
    public string? Host { get; set; }
}

/// <summary>A list of ServiceEntries, for the generic client.</summary>
[KubernetesEntity(Group = V1ServiceEntry.KubeGroup, Kind = "ServiceEntryList", ApiVersion = V1ServiceEntry.KubeApiVersion, PluralName = V1ServiceEntry.KubePluralName)]
public sealed record V1ServiceEntryList() : KubernetesResourceList<V1ServiceEntry>(V1ServiceEntry.KubeGroup, V1ServiceEntry.KubeApiVersion, "ServiceEntryList");
