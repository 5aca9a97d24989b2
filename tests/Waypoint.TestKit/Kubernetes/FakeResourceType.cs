namespace Waypoint.TestKit.Kubernetes;

/// <summary>A resource the fake API server serves, addressed as the real one does by group, version and plural.</summary>
public sealed record FakeResourceType(string Group, string Version, string Plural, string Kind, bool Namespaced, bool HasStatusSubresource = true)
{
    public string ApiVersion => Group.Length == 0 ? Version : $"{Group}/{Version}";

    public string ListKind => Kind + "List";

    public static FakeResourceType Namespaces { get; } = new("", "v1", "namespaces", "Namespace", Namespaced: false);
    public static FakeResourceType Services { get; } = new("", "v1", "services", "Service", Namespaced: true);
    public static FakeResourceType Pods { get; } = new("", "v1", "pods", "Pod", Namespaced: true);
    public static FakeResourceType ConfigMaps { get; } = new("", "v1", "configmaps", "ConfigMap", Namespaced: true, HasStatusSubresource: false);
    public static FakeResourceType ServiceAccounts { get; } = new("", "v1", "serviceaccounts", "ServiceAccount", Namespaced: true, HasStatusSubresource: false);
    public static FakeResourceType Deployments { get; } = new("apps", "v1", "deployments", "Deployment", Namespaced: true);
    public static FakeResourceType EndpointSlices { get; } = new("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", Namespaced: true, HasStatusSubresource: false);
    public static FakeResourceType Leases { get; } = new("coordination.k8s.io", "v1", "leases", "Lease", Namespaced: true, HasStatusSubresource: false);
    public static FakeResourceType GatewayClasses { get; } = new("gateway.networking.k8s.io", "v1", "gatewayclasses", "GatewayClass", Namespaced: false);
    public static FakeResourceType Gateways { get; } = new("gateway.networking.k8s.io", "v1", "gateways", "Gateway", Namespaced: true);
    public static FakeResourceType HttpRoutes { get; } = new("gateway.networking.k8s.io", "v1", "httproutes", "HTTPRoute", Namespaced: true);
    public static FakeResourceType ReferenceGrants { get; } = new("gateway.networking.k8s.io", "v1beta1", "referencegrants", "ReferenceGrant", Namespaced: true, HasStatusSubresource: false);
    public static FakeResourceType ServiceEntries { get; } = new("networking.istio.io", "v1", "serviceentries", "ServiceEntry", Namespaced: true);
    public static FakeResourceType TrafficPolicies { get; } = new("gateway.kgateway.dev", "v1alpha1", "trafficpolicies", "TrafficPolicy", Namespaced: true);
    /// <summary>Istio's AuthorizationPolicy; not in <see cref="Defaults"/>, so other tests keep modelling a cluster without it.</summary>
    public static FakeResourceType AuthorizationPolicies { get; } = new("security.istio.io", "v1", "authorizationpolicies", "AuthorizationPolicy", Namespaced: true);
    /// <summary>Istio's RequestAuthentication; not in <see cref="Defaults"/> either.</summary>
    public static FakeResourceType RequestAuthentications { get; } = new("security.istio.io", "v1", "requestauthentications", "RequestAuthentication", Namespaced: true);
    public static FakeResourceType WaypointParameters { get; } = new("gateway.kgateway.dev", "v1alpha1", "waypointparameters", "WaypointParameters", Namespaced: true, HasStatusSubresource: false);
    public static FakeResourceType Events { get; } = new("", "v1", "events", "Event", Namespaced: true, HasStatusSubresource: false);

    /// <summary>What a cluster with Gateway API and Istio ambient installed serves. ServiceEntry is included; drop it to model a cluster without Istio's CRDs.</summary>
    public static IReadOnlyList<FakeResourceType> Defaults { get; } =
    [
        Namespaces, Services, Pods, ConfigMaps, ServiceAccounts, Deployments, EndpointSlices, Leases, Events,
        GatewayClasses, Gateways, HttpRoutes, ReferenceGrants, ServiceEntries, TrafficPolicies, WaypointParameters,
    ];
}
