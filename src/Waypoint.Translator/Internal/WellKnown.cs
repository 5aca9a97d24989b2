namespace Waypoint.Translator.Internal;

internal static class WellKnown
{
    public const string UseWaypointLabel = "istio.io/use-waypoint";
    public const string UseWaypointNamespaceLabel = "istio.io/use-waypoint-namespace";
    public const string WaypointForLabel = "istio.io/waypoint-for";
    public const string DataplaneModeLabel = "istio.io/dataplane-mode";
    public const string ServiceNameLabel = "kubernetes.io/service-name";
    public const string None = "none";
    public const string GatewayManagedLabel = "gateway.istio.io/managed";
    public const string IstioMeshControllerValue = "istio.io-mesh-controller";

    public const string MeshListenerName = "mesh";
    public const int HbonePort = 15008;
    public const string HboneProtocol = "HBONE";

    public const string ConnectTerminate = "connect_terminate";
    public const string MainInternal = "main_internal";
    public const string ConnectOriginate = "connect_originate";
    public const string Encap = "encap";

    public const string OriginalDstMetadataKey = "envoy.filters.listener.original_dst";
    public const string IstioMetadataKey = "istio";
    public const string HashableStringFactory = "envoy.hashable_string";

    public const string ServiceKind = "Service";
    public const string ServiceEntryKind = "ServiceEntry";
    public const string IstioNetworkingGroup = "networking.istio.io";
    public const string HttpRouteKind = "HTTPRoute";
    public const string GatewayKind = "Gateway";
    public const string TrafficPolicyKind = "TrafficPolicy";
    public const string AuthorizationPolicyKind = "AuthorizationPolicy";
    public const string RequestAuthenticationKind = "RequestAuthentication";
}
