using k8s;
using k8s.Models;
using Waypoint.Transformation.Model;

namespace Waypoint.Translator.Model;

/// <summary>
/// An immutable view of every Kubernetes object the translator reads.
/// </summary>
/// <remarks>
/// The lists must not be modified after construction; build a new snapshot (or use <c>with</c>) to change it.
/// The controller builds one from informer caches, the local rig from YAML (<see cref="KubernetesObjectLoader"/>).
/// Order within a list does not affect translation output.
/// </remarks>
public sealed record ClusterSnapshot
{
    public static ClusterSnapshot Empty { get; } = new();

    public IReadOnlyList<V1GatewayClass> GatewayClasses { get; init; } = [];

    public IReadOnlyList<V1Gateway> Gateways { get; init; } = [];

    public IReadOnlyList<V1HTTPRoute> HttpRoutes { get; init; } = [];

    public IReadOnlyList<V1beta1ReferenceGrant> ReferenceGrants { get; init; } = [];

    public IReadOnlyList<V1Service> Services { get; init; } = [];

    public IReadOnlyList<V1EndpointSlice> EndpointSlices { get; init; } = [];

    public IReadOnlyList<V1Namespace> Namespaces { get; init; } = [];

    public IReadOnlyList<V1Pod> Pods { get; init; } = [];

    public IReadOnlyList<V1ServiceEntry> ServiceEntries { get; init; } = [];

    /// <summary>kgateway TrafficPolicies (transformation, retry, timeouts) targeting waypoint Gateways or HTTPRoutes.</summary>
    public IReadOnlyList<V1alpha1TrafficPolicy> TrafficPolicies { get; init; } = [];

    /// <summary>
    /// Istio AuthorizationPolicies (security.istio.io v1/v1beta1); the waypoint enforces those with <c>targetRefs</c>.
    /// </summary>
    public IReadOnlyList<V1AuthorizationPolicy> AuthorizationPolicies { get; init; } = [];

    /// <summary>Istio RequestAuthentications (JWT issuers); the waypoint validates those with <c>targetRefs</c>.</summary>
    public IReadOnlyList<V1RequestAuthentication> RequestAuthentications { get; init; } = [];

    /// <summary>
    /// Istio mesh config ConfigMaps (named <c>istio</c>): the translator reads the one in its Istio root namespace for
    /// the ext_authz <c>extensionProviders</c> of CUSTOM AuthorizationPolicies. None there: providers are unknown.
    /// </summary>
    public IReadOnlyList<V1ConfigMap> MeshConfigMaps { get; init; } = [];

    /// <summary>WaypointParameters: the translator checks that a class's or Gateway's parametersRef resolves.</summary>
    public IReadOnlyList<V1alpha1WaypointParameters> WaypointParameters { get; init; } = [];

    /// <summary>
    /// Objects whose last translation Envoy rejected (fed back from xDS NACKs): the translator reports them and leaves
    /// them out, so the rest of their waypoint keeps updating.
    /// </summary>
    public IReadOnlyList<EnvoyRejection> EnvoyRejections { get; init; } = [];

    public static Builder CreateBuilder() => new();

    /// <summary>Builds a snapshot from objects of any supported kind.</summary>
    /// <exception cref="ArgumentException">An object's kind is not one the translator reads.</exception>
    public static ClusterSnapshot From(IEnumerable<IKubernetesObject<V1ObjectMeta>> objects)
    {
        ArgumentNullException.ThrowIfNull(objects);
        var builder = new Builder();
        foreach (var obj in objects)
        {
            builder.Add(obj);
        }

        return builder.Build();
    }

    /// <summary>Collects objects, then freezes them into a <see cref="ClusterSnapshot"/>.</summary>
    public sealed class Builder
    {
        private readonly List<V1GatewayClass> _gatewayClasses = [];
        private readonly List<V1Gateway> _gateways = [];
        private readonly List<V1HTTPRoute> _httpRoutes = [];
        private readonly List<V1beta1ReferenceGrant> _referenceGrants = [];
        private readonly List<V1Service> _services = [];
        private readonly List<V1EndpointSlice> _endpointSlices = [];
        private readonly List<V1Namespace> _namespaces = [];
        private readonly List<V1Pod> _pods = [];
        private readonly List<V1ServiceEntry> _serviceEntries = [];
        private readonly List<V1alpha1TrafficPolicy> _trafficPolicies = [];
        private readonly List<V1alpha1WaypointParameters> _waypointParameters = [];
        private readonly List<V1AuthorizationPolicy> _authorizationPolicies = [];
        private readonly List<V1RequestAuthentication> _requestAuthentications = [];
        private readonly List<V1ConfigMap> _meshConfigMaps = [];

        /// <summary>Adds an object of a supported kind.</summary>
        /// <exception cref="ArgumentException">The kind is not one the translator reads.</exception>
        public Builder Add(IKubernetesObject<V1ObjectMeta> obj)
        {
            ArgumentNullException.ThrowIfNull(obj);
            switch (obj)
            {
                case V1GatewayClass o: _gatewayClasses.Add(o); break;
                case V1Gateway o: _gateways.Add(o); break;
                case V1HTTPRoute o: _httpRoutes.Add(o); break;
                case V1beta1ReferenceGrant o: _referenceGrants.Add(o); break;
                case V1Service o: _services.Add(o); break;
                case V1EndpointSlice o: _endpointSlices.Add(o); break;
                case V1Namespace o: _namespaces.Add(o); break;
                case V1Pod o: _pods.Add(o); break;
                case V1ServiceEntry o: _serviceEntries.Add(o); break;
                case V1alpha1TrafficPolicy o: _trafficPolicies.Add(o); break;
                case V1alpha1WaypointParameters o: _waypointParameters.Add(o); break;
                case V1AuthorizationPolicy o: _authorizationPolicies.Add(o); break;
                case V1RequestAuthentication o: _requestAuthentications.Add(o); break;
                case V1ConfigMap o when o.Metadata?.Name == MeshConfig.ConfigMapName: _meshConfigMaps.Add(o); break;
                default:
                    throw new ArgumentException($"Kind '{obj.Kind}' ({obj.GetType().Name}) is not read by the translator.", nameof(obj));
            }

            return this;
        }

        public Builder AddRange(IEnumerable<IKubernetesObject<V1ObjectMeta>> objects)
        {
            ArgumentNullException.ThrowIfNull(objects);
            foreach (var obj in objects)
            {
                Add(obj);
            }

            return this;
        }

        public ClusterSnapshot Build() => new()
        {
            GatewayClasses = _gatewayClasses.ToArray(),
            Gateways = _gateways.ToArray(),
            HttpRoutes = _httpRoutes.ToArray(),
            ReferenceGrants = _referenceGrants.ToArray(),
            Services = _services.ToArray(),
            EndpointSlices = _endpointSlices.ToArray(),
            Namespaces = _namespaces.ToArray(),
            Pods = _pods.ToArray(),
            ServiceEntries = _serviceEntries.ToArray(),
            TrafficPolicies = _trafficPolicies.ToArray(),
            WaypointParameters = _waypointParameters.ToArray(),
            AuthorizationPolicies = _authorizationPolicies.ToArray(),
            RequestAuthentications = _requestAuthentications.ToArray(),
            MeshConfigMaps = _meshConfigMaps.ToArray(),
        };
    }
}

/// <summary>An object Envoy rejected the translation of, at the generation it had then, with Envoy's message.</summary>
/// <param name="Kind">HTTPRoute or TrafficPolicy.</param>
/// <param name="Namespace">Object namespace.</param>
/// <param name="Name">Object name.</param>
/// <param name="Generation">metadata.generation that was rejected; an edit (new generation) is translated again.</param>
/// <param name="Message">Envoy's error detail.</param>
public sealed record EnvoyRejection(string Kind, string Namespace, string Name, long? Generation, string Message);
