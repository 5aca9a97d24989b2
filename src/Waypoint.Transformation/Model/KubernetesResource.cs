using System.Text.Json.Serialization;
using k8s;
using k8s.Models;

namespace Waypoint.Transformation.Model;

/// <summary>
/// What every object the API server serves carries, resources and lists alike, so that a custom resource
/// record declares only its <see cref="KubernetesEntityAttribute"/>, its Kube* constants and its spec and status types.
/// </summary>
/// <remarks>
/// The derived record passes its own constants to the constructor, so a new instance already carries the
/// apiVersion and kind the API server expects; deserialization then overwrites them with what was read.
/// System.Text.Json writes a derived record's members before its base's, so the members added below carry
/// a <see cref="JsonPropertyOrderAttribute"/> that puts them after these, in the order Kubernetes writes them.
/// </remarks>
public abstract record KubernetesObject<TMetadata> : IKubernetesObject<TMetadata>
    where TMetadata : class, new()
{
    protected KubernetesObject(string group, string version, string kind)
    {
        ApiVersion = group + "/" + version;
        Kind = kind;
    }

    [JsonPropertyName("apiVersion")]
    public string ApiVersion { get; set; }

    [JsonPropertyName("kind")]
    public string Kind { get; set; }

    [JsonPropertyName("metadata")]
    public TMetadata Metadata { get; set; } = new();
}

/// <summary>A custom resource without a status subresource, such as ReferenceGrant.</summary>
public abstract record KubernetesResource<TSpec> : KubernetesObject<V1ObjectMeta>, ISpec<TSpec>
    where TSpec : class, new()
{
    protected KubernetesResource(string group, string version, string kind)
        : base(group, version, kind)
    {
    }

    [JsonPropertyName("spec")]
    [JsonPropertyOrder(1)]
    public TSpec Spec { get; set; } = new();
}

/// <summary>A custom resource with a status subresource.</summary>
public abstract record KubernetesResource<TSpec, TStatus> : KubernetesResource<TSpec>, IStatus<TStatus>
    where TSpec : class, new()
    where TStatus : class, new()
{
    protected KubernetesResource(string group, string version, string kind)
        : base(group, version, kind)
    {
    }

    [JsonPropertyName("status")]
    [JsonPropertyOrder(2)]
    public TStatus Status { get; set; } = new();
}

/// <summary>The list the API server returns for a collection of <typeparamref name="TItem"/>.</summary>
/// <remarks>The kind passed to the constructor is the item kind with <c>List</c> appended, e.g. <c>GatewayList</c>.</remarks>
public abstract record KubernetesResourceList<TItem> : KubernetesObject<V1ListMeta>, IItems<TItem>
{
    protected KubernetesResourceList(string group, string version, string kind)
        : base(group, version, kind)
    {
    }

    [JsonPropertyName("items")]
    [JsonPropertyOrder(1)]
    public IList<TItem> Items { get; set; } = [];
}
