namespace Waypoint.Controller.Client;

/// <summary>A resource as the API server addresses it.</summary>
internal sealed record ResourceKind(string Group, string Version, string Plural, string Kind, bool Namespaced)
{
    public string ApiVersion => Group.Length == 0 ? Version : $"{Group}/{Version}";

    private string Prefix => Group.Length == 0 ? $"/api/{Version}" : $"/apis/{Group}/{Version}";

    /// <summary>The collection across all namespaces (or the cluster-scoped collection).</summary>
    public string CollectionPath() => $"{Prefix}/{Plural}";

    public string CollectionPath(string? ns) =>
        Namespaced && !string.IsNullOrEmpty(ns) ? $"{Prefix}/namespaces/{Uri.EscapeDataString(ns)}/{Plural}" : CollectionPath();

    public string ItemPath(string? ns, string name) => $"{CollectionPath(ns)}/{Uri.EscapeDataString(name)}";

    public override string ToString() => Group.Length == 0 ? Plural : $"{Plural}.{Group}";

    public static ResourceKind Namespaces { get; } = new("", "v1", "namespaces", "Namespace", false);
    public static ResourceKind Services { get; } = new("", "v1", "services", "Service", true);
    public static ResourceKind Pods { get; } = new("", "v1", "pods", "Pod", true);
    public static ResourceKind ConfigMaps { get; } = new("", "v1", "configmaps", "ConfigMap", true);
    public static ResourceKind ServiceAccounts { get; } = new("", "v1", "serviceaccounts", "ServiceAccount", true);
    public static ResourceKind Deployments { get; } = new("apps", "v1", "deployments", "Deployment", true);
    public static ResourceKind EndpointSlices { get; } = new("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", true);
    public static ResourceKind Leases { get; } = new("coordination.k8s.io", "v1", "leases", "Lease", true);
    public static ResourceKind GatewayClasses { get; } = new("gateway.networking.k8s.io", "v1", "gatewayclasses", "GatewayClass", false);
    public static ResourceKind Gateways { get; } = new("gateway.networking.k8s.io", "v1", "gateways", "Gateway", true);
    public static ResourceKind HttpRoutes { get; } = new("gateway.networking.k8s.io", "v1", "httproutes", "HTTPRoute", true);
    public static ResourceKind ReferenceGrants { get; } = new("gateway.networking.k8s.io", "v1beta1", "referencegrants", "ReferenceGrant", true);
    public static ResourceKind ServiceEntries { get; } = new("networking.istio.io", "v1", "serviceentries", "ServiceEntry", true);
    public static ResourceKind TrafficPolicies { get; } = new("gateway.kgateway.dev", "v1alpha1", "trafficpolicies", "TrafficPolicy", true);
    public static ResourceKind AuthorizationPolicies { get; } = new("security.istio.io", "v1", "authorizationpolicies", "AuthorizationPolicy", true);
    public static ResourceKind RequestAuthentications { get; } = new("security.istio.io", "v1", "requestauthentications", "RequestAuthentication", true);
    public static ResourceKind WaypointParameters { get; } = new("gateway.kgateway.dev", "v1alpha1", "waypointparameters", "WaypointParameters", true);
}

/// <summary>Namespace and name: how objects are keyed (cluster-scoped objects have an empty namespace).</summary>
internal readonly record struct NamespacedName(string Namespace, string Name)
{
    public override string ToString() => Namespace.Length == 0 ? Name : $"{Namespace}/{Name}";

    public static NamespacedName Of(k8s.IKubernetesObject<k8s.Models.V1ObjectMeta> obj) =>
        new(obj.Metadata?.NamespaceProperty ?? "", obj.Metadata?.Name ?? "");
}
