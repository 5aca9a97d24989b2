using System.Text.Json;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging;
using Waypoint.Controller.Client;
using Waypoint.Transformation.Model;
using Waypoint.Translator.Model;

namespace Waypoint.Controller.Reconciliation;

/// <summary>The informers' caches: every kind the controller and the translator read.</summary>
internal sealed class ClusterState
{
    public ClusterState(KubernetesApiClient client, WaypointControllerOptions options, InformerOptions informerOptions, ILoggerFactory loggerFactory, TimeProvider timeProvider)
    {
        var logger = loggerFactory.CreateLogger("Waypoint.Controller.Informer");
        ResourceInformer<T> Make<T>(ResourceKind kind, InformerOptions? o = null, Func<JsonElement, T>? deserialize = null)
            where T : class, IKubernetesObject<V1ObjectMeta> =>
            new(client, kind, o ?? informerOptions, logger, timeProvider, deserialize);

        // Kinds a cluster may lack (CRD not installed) or not grant us: served-empty until they appear.
        var optional = informerOptions with { Optional = true };

        GatewayClasses = Make<V1GatewayClass>(ResourceKind.GatewayClasses);
        Gateways = Make<V1Gateway>(ResourceKind.Gateways);
        HttpRoutes = Make<V1HTTPRoute>(ResourceKind.HttpRoutes);
        ReferenceGrants = Make<V1beta1ReferenceGrant>(ResourceKind.ReferenceGrants, optional);
        Services = Make(ResourceKind.Services, deserialize: static element => SharedStrings.Pool(KubernetesJson.Deserialize<V1Service>(element)));
        EndpointSlices = Make(ResourceKind.EndpointSlices, deserialize: static element => SharedStrings.Pool(KubernetesJson.Deserialize<V1EndpointSlice>(element)));
        Namespaces = Make<V1Namespace>(ResourceKind.Namespaces);
        Pods = Make(ResourceKind.Pods, informerOptions with { LabelSelector = options.PodLabelSelector },
            static element => PodProjection.Of(KubernetesJson.Deserialize<V1Pod>(element)));
        ServiceEntries = Make<V1ServiceEntry>(ResourceKind.ServiceEntries, optional);
        TrafficPolicies = Make<V1alpha1TrafficPolicy>(ResourceKind.TrafficPolicies, optional);
        Parameters = Make<V1alpha1WaypointParameters>(ResourceKind.WaypointParameters, optional);
        AuthorizationPolicies = Make<V1AuthorizationPolicy>(ResourceKind.AuthorizationPolicies, optional);
        RequestAuthentications = Make<V1RequestAuthentication>(ResourceKind.RequestAuthentications, optional);

        // Istio's mesh config (the ext_authz providers of CUSTOM policies): one ConfigMap in the root namespace. Optional:
        // without it (or without the right to read it) providers are unknown and CUSTOM policies deny, naming it.
        MeshConfig = Make<V1ConfigMap>(ResourceKind.ConfigMaps, optional with
        {
            Namespace = options.IstioRootNamespace,
            FieldSelector = $"metadata.name={Waypoint.Translator.Model.MeshConfig.ConfigMapName}",
        });

        // The objects waypoints own (their Services are in the Service informer): watched to repair drift, read from
        // the cache so that reconciling a Gateway costs no GET.
        var owned = informerOptions with { LabelSelector = $"{WaypointWorkload.ManagedByLabel}={WaypointWorkload.ManagedByValue}" };
        ServiceAccounts = Make<V1ServiceAccount>(ResourceKind.ServiceAccounts, owned);
        ConfigMaps = Make<V1ConfigMap>(ResourceKind.ConfigMaps, owned);
        Deployments = Make<V1Deployment>(ResourceKind.Deployments, owned);
        All = [GatewayClasses, Gateways, HttpRoutes, ReferenceGrants, Services, EndpointSlices, Namespaces, Pods, ServiceEntries, TrafficPolicies, Parameters,
            AuthorizationPolicies, RequestAuthentications, MeshConfig, ServiceAccounts, ConfigMaps, Deployments];
    }

    public ResourceInformer<V1GatewayClass> GatewayClasses { get; }

    public ResourceInformer<V1Gateway> Gateways { get; }

    public ResourceInformer<V1HTTPRoute> HttpRoutes { get; }

    public ResourceInformer<V1beta1ReferenceGrant> ReferenceGrants { get; }

    public ResourceInformer<V1Service> Services { get; }

    public ResourceInformer<V1EndpointSlice> EndpointSlices { get; }

    public ResourceInformer<V1Namespace> Namespaces { get; }

    public ResourceInformer<V1Pod> Pods { get; }

    public ResourceInformer<V1ServiceEntry> ServiceEntries { get; }

    public ResourceInformer<V1alpha1TrafficPolicy> TrafficPolicies { get; }

    public ResourceInformer<V1alpha1WaypointParameters> Parameters { get; }

    public ResourceInformer<V1AuthorizationPolicy> AuthorizationPolicies { get; }

    public ResourceInformer<V1RequestAuthentication> RequestAuthentications { get; }

    /// <summary>The <c>istio</c> ConfigMap of the Istio root namespace (at most one object).</summary>
    public ResourceInformer<V1ConfigMap> MeshConfig { get; }

    public ResourceInformer<V1ServiceAccount> ServiceAccounts { get; }

    public ResourceInformer<V1ConfigMap> ConfigMaps { get; }

    public ResourceInformer<V1Deployment> Deployments { get; }

    public IReadOnlyList<IResourceInformer> All { get; }

    /// <summary>The cached object a waypoint owns (or would own) of <paramref name="kind"/>, if the cache has it.</summary>
    public IKubernetesObject<V1ObjectMeta>? CachedOwned(ResourceKind kind, NamespacedName name)
    {
        if (kind == ResourceKind.ServiceAccounts)
        {
            return ServiceAccounts.TryGet(name, out var serviceAccount) ? serviceAccount : null;
        }

        if (kind == ResourceKind.ConfigMaps)
        {
            return ConfigMaps.TryGet(name, out var configMap) ? configMap : null;
        }

        if (kind == ResourceKind.Deployments)
        {
            return Deployments.TryGet(name, out var deployment) ? deployment : null;
        }

        if (kind == ResourceKind.Services)
        {
            return Services.TryGet(name, out var service) ? service : null;
        }

        throw new ArgumentOutOfRangeException(nameof(kind), kind, "not a kind waypoints own");
    }

    /// <param name="rejections">Objects Envoy rejected (NACK feedback), for the translator to report and leave out.</param>
    public ClusterSnapshot CreateSnapshot(IReadOnlyList<EnvoyRejection>? rejections = null) => new()
    {
        GatewayClasses = GatewayClasses.Items.ToArray(),
        Gateways = Gateways.Items.ToArray(),
        HttpRoutes = HttpRoutes.Items.ToArray(),
        ReferenceGrants = ReferenceGrants.Items.ToArray(),
        Services = Services.Items.ToArray(),
        EndpointSlices = EndpointSlices.Items.ToArray(),
        Namespaces = Namespaces.Items.ToArray(),
        Pods = Pods.Items.ToArray(),
        ServiceEntries = ServiceEntries.Items.ToArray(),
        TrafficPolicies = TrafficPolicies.Items.ToArray(),
        WaypointParameters = Parameters.Items.ToArray(),
        AuthorizationPolicies = AuthorizationPolicies.Items.ToArray(),
        RequestAuthentications = RequestAuthentications.Items.ToArray(),
        MeshConfigMaps = MeshConfig.Items.ToArray(),
        EnvoyRejections = rejections ?? [],
    };

    /// <summary>True when a pod of the Gateway's Deployment is Ready.</summary>
    public bool HasReadyPod(V1Gateway gateway)
    {
        var ns = gateway.Metadata.NamespaceProperty;
        var name = gateway.Metadata.Name;
        foreach (var pod in Pods.Items)
        {
            if (pod.Metadata.NamespaceProperty == ns
                && pod.Metadata.DeletionTimestamp is null
                && pod.Metadata.Labels?.TryGetValue(WaypointWorkload.GatewayNameLabel, out var gatewayName) == true && gatewayName == name
                && pod.Status?.Conditions?.Any(c => c.Type == "Ready" && c.Status == "True") == true)
            {
                return true;
            }
        }

        return false;
    }
}
