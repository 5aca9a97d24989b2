using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Envoy.Config.Cluster.V3;
using Envoy.Config.Endpoint.V3;
using Envoy.Config.Listener.V3;
using Envoy.Config.Route.V3;
using Google.Protobuf;
using Waypoint.Telemetry.RequestMetrics;
using Waypoint.Transformation.Compilation;
using Waypoint.Translator.Authorization;
using Waypoint.Translator.Internal;
using Waypoint.Translator.Model;

namespace Waypoint.Translator;

/// <summary>
/// Translates a <see cref="ClusterSnapshot"/> into the Envoy resources of every waypoint (Istio's design A:
/// HBONE terminated by Envoy, L7 in an internal listener, new HBONE tunnels to the pods) plus the statuses to write.
/// </summary>
/// <remarks>
/// Pure: no I/O, no clock. The instance remembers what it built last time, keyed by the input objects' identity,
/// so a snapshot that changes one object rebuilds only what depends on it. Snapshot objects must therefore be
/// treated as immutable (replace, never mutate, an object that changed). Calls are serialized.
/// </remarks>
public sealed class WaypointTranslator
{
    /// <summary>Below this many builds, threads cost more than they save.</summary>
    private const int ParallelThreshold = 64;

    private readonly Lock _gate = new();
    private Dictionary<ChainKey, ChainEntry> _chains = [];
    private Dictionary<string, CachedResource> _clusters = new(StringComparer.Ordinal);
    private Dictionary<string, CachedResource> _endpoints = new(StringComparer.Ordinal);
    private Dictionary<WaypointKey, MainListener> _mainListeners = [];
    private readonly Dictionary<string, EncodedResource> _connectOriginate = new(StringComparer.Ordinal);
    private readonly Dictionary<string, EncodedResource> _connectTerminate = new(StringComparer.Ordinal);
    private readonly Dictionary<string, EncodedResource> _collectors = new(StringComparer.Ordinal);
    private readonly EncodedResource _connectOriginateListener;
    private readonly EncodedResource _mainInternalCluster;
    private readonly EncodedResource _encapCluster;
    private readonly EncodedResource _transformationCluster;
    private Dictionary<string, TrafficPolicyCompileResult> _policies = new(StringComparer.Ordinal);
    private Dictionary<string, CompiledAuthorizationPolicy> _authorization = new(StringComparer.Ordinal);
    private Dictionary<string, CompiledRequestAuthentication> _authentication = new(StringComparer.Ordinal);
    private Dictionary<WaypointKey, WaypointResources> _lastGood = [];

    public WaypointTranslator(TranslatorOptions? options = null)
    {
        Options = options ?? new TranslatorOptions();
        _connectOriginateListener = EncodedResource.Of(ListenerBuilder.ConnectOriginate());
        _mainInternalCluster = EncodedResource.Of(ClusterBuilder.Internal(WellKnown.MainInternal, WellKnown.MainInternal));
        _encapCluster = EncodedResource.Of(ClusterBuilder.Internal(WellKnown.Encap, WellKnown.ConnectOriginate));
        _transformationCluster = EncodedResource.Of(TransformationEnvoyConfig.CreateCluster(Options.TransformationSocketPath));
    }

    public TranslatorOptions Options { get; }

    public TranslationResult Translate(ClusterSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        lock (_gate)
        {
            var index = new SnapshotIndex(snapshot, Options);
            var catalog = new WaypointCatalog(index, Options);
            var routes = new RouteCompiler(index, catalog, Options);
            var used = new Generation(_chains.Count, _clusters.Count, _endpoints.Count);
            var policies = new TrafficPolicyIndex(snapshot, _policies, used.Policies);
            var authorization = new AuthorizationIndex(snapshot, Options, _authorization, used.Authorization, _authentication, used.Authentication);

            var waypoints = new SortedDictionary<WaypointKey, WaypointResources>();
            var lastGood = new Dictionary<WaypointKey, WaypointResources>(catalog.Waypoints.Count);
            List<WaypointTranslationError>? errors = null;
            foreach (var waypoint in catalog.Waypoints.OrderBy(w => w.Key))
            {
                try
                {
                    Options.BeforeWaypoint?.Invoke(waypoint.Key);
                    waypoints[waypoint.Key] = lastGood[waypoint.Key] = BuildWaypoint(waypoint, index, catalog, routes, policies, authorization, used);
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    // One waypoint's failure must not take the others down: it keeps what it was last given (or
                    // nothing, if it never translated), and the caller retries.
                    (errors ??= []).Add(new WaypointTranslationError(waypoint.Key, ex));
                    if (_lastGood.TryGetValue(waypoint.Key, out var previous))
                    {
                        waypoints[waypoint.Key] = lastGood[waypoint.Key] = previous;
                    }
                }
            }

            // Keep only what this translation used, so the caches never outgrow the cluster.
            _chains = used.Chains;
            _clusters = used.Clusters;
            _endpoints = used.Endpoints;
            _policies = used.Policies;
            _authorization = used.Authorization;
            _authentication = used.Authentication;
            _mainListeners = used.MainListeners;
            _lastGood = lastGood;

            return new TranslationResult
            {
                Waypoints = waypoints,
                Errors = errors ?? [],
                GatewayClasses = WaypointCatalog.ClassStatuses(index, Options),
                Gateways = catalog.Statuses(routes.AttachedRouteCounts),
                Routes = routes.Statuses,
                Policies = policies.IsEmpty ? [] : policies.Statuses(waypoints.Keys, routes.Statuses, Options.ControllerName),
                AuthorizationPolicies = authorization.IsEmpty ? [] : authorization.Statuses(waypoints.Keys, Options.ControllerName),
                RequestAuthentications = authorization.IsEmpty ? [] : authorization.AuthenticationStatuses(waypoints.Keys, Options.ControllerName),
            };
        }
    }

    private WaypointResources BuildWaypoint(WaypointGateway waypoint, SnapshotIndex index, WaypointCatalog catalog, RouteCompiler routes, TrafficPolicyIndex policies, AuthorizationIndex authorization, Generation used)
    {
        var key = waypoint.Key;
        var resolver = new BackendResolver(index, catalog, key);
        var gatewayRoutes = waypoint.ServesServices ? routes.RoutesOf(key) : [];
        var gatewayPolicies = policies.OfGateway(key);
        var bound = catalog.BoundTo(key);
        var chains = new List<ChainEntry>(bound.Count);
        var claimedVips = new HashSet<string>(StringComparer.Ordinal);
        var sniffed = new HashSet<int>();
        var declared = new HashSet<int>();
        var pending = new List<PendingChain>();
        var routeSources = new HashSet<SourceObject>();
        var jwksClusters = new SortedDictionary<string, Cluster>(StringComparer.Ordinal);
        var extAuthzClusters = new SortedDictionary<string, Cluster>(StringComparer.Ordinal);
        var routeConfigSources = new Dictionary<string, HashSet<SourceObject>>(StringComparer.Ordinal);
        var clusterSources = new Dictionary<string, HashSet<SourceObject>>(StringComparer.Ordinal);

        foreach (var service in bound)
        {
            var ports = service.Ports;
            var vips = new List<string>(service.Vips.Count);
            foreach (var vip in service.Vips)
            {
                if (claimedVips.Add(vip))
                {
                    vips.Add(vip);
                }
            }

            if (vips.Count == 0 || ports.Count == 0)
            {
                continue;
            }

            var attachments = routes.RoutesOf(service);
            var serviceSources = new HashSet<SourceObject>();
            AddSources(serviceSources, attachments, gatewayRoutes, gatewayPolicies, policies);
            var inputs = new List<object?>(9 + vips.Count + (2 * attachments.Count) + gatewayRoutes.Count) { service.Source, service.Host, waypoint.Telemetry };
            foreach (var vip in vips)
            {
                inputs.Add(vip);
            }

            inputs.Add("|routes");
            foreach (var attachment in attachments)
            {
                inputs.Add(attachment.Route.Route);
                inputs.Add(attachment.Port);
            }

            inputs.Add("|gateway");
            foreach (var route in gatewayRoutes)
            {
                inputs.Add(route.Route);
            }

            if (!policies.IsEmpty)
            {
                // Compiled policies are reused while their content is unchanged, so they key the chain by reference.
                inputs.Add("|policies");
                inputs.AddRange(gatewayPolicies);
                foreach (var route in attachments.Select(a => a.Route).Concat(gatewayRoutes))
                {
                    inputs.Add("|route");
                    inputs.AddRange(policies.Affecting(route));
                }
            }

            var authz = authorization.IsEmpty
                ? ServiceAuthorization.None
                : authorization.For(waypoint, service, attachments.Select(a => a.Route).Concat(gatewayRoutes));
            foreach (var authentication in authz.Jwt)
            {
                var source = new SourceObject(WellKnown.RequestAuthenticationKind, authentication.Namespace, authentication.Name);
                serviceSources.Add(source);
                foreach (var jwksCluster in authentication.Clusters)
                {
                    jwksClusters.TryAdd(jwksCluster.Name, jwksCluster);
                    AddSource(clusterSources, jwksCluster.Name, source);
                }
            }

            authz = ResolveExtAuthz(authz, index, resolver, extAuthzClusters);
            foreach (var policy in authz.All())
            {
                var source = new SourceObject(WellKnown.AuthorizationPolicyKind, policy.Namespace, policy.Name);
                serviceSources.Add(source);
                if (policy.ExtAuthz is { } provider && authz.ExtAuthzClusters.TryGetValue(provider.Name, out var extAuthzCluster) && extAuthzClusters.ContainsKey(extAuthzCluster))
                {
                    AddSource(clusterSources, extAuthzCluster, source);
                }
            }

            routeSources.UnionWith(serviceSources);

            if (!authz.IsEmpty)
            {
                // Compiled policies are reused while their content is unchanged, so they key the chain by reference.
                inputs.Add("|authz");
                inputs.AddRange(authz.Service);
                inputs.Add("|jwt");
                inputs.AddRange(authz.Jwt);
                foreach (var (provider, cluster) in authz.ExtAuthzClusters)
                {
                    inputs.Add($"|ext-authz {provider} {cluster}");
                }

                // The mesh config's providers are in every chain: their content keys the chain (recompiled each translation).
                foreach (var (_, providerKey) in authz.MeshExtAuthz)
                {
                    inputs.Add(providerKey);
                }
                foreach (var (route, routePolicies) in authz.Routes)
                {
                    inputs.Add($"|authz-route {route.Ns}/{route.Name}");
                    inputs.AddRange(routePolicies);
                }
            }

            inputs.Add("|backends");
            foreach (var port in ports)
            {
                if (port.IsHttp)
                {
                    AddBackendFingerprint(inputs, attachments, gatewayRoutes, port, resolver);
                }

                if (port.Protocol == PortProtocol.Auto)
                {
                    sniffed.Add(port.Port);
                }
                else
                {
                    declared.Add(port.Port);
                }
            }

            var cacheKey = new ChainKey(key, service.Kind, service.Namespace, service.Name, service.Host);
            var refKey = new RefKey(inputs);
            if (used.Chains.TryGetValue(cacheKey, out var entry)
                || (_chains.TryGetValue(cacheKey, out entry) && entry.Inputs.Equals(refKey)))
            {
                used.Chains[cacheKey] = entry;
                chains.Add(entry);
            }
            else
            {
                pending.Add(new PendingChain(chains.Count, cacheKey, service, vips, attachments, authz, refKey, entry));
                chains.Add(null!);
            }

            foreach (var port in ports)
            {
                if (port.IsHttp)
                {
                    var name = BackendResolver.InboundName(port.Port, http: true, service.Host);
                    resolver.Requests.TryAdd(name, new ClusterRequest(name, service, port, Http: true));
                    routeConfigSources[name] = serviceSources; // the RouteConfiguration is named after its chain
                }

                if (port.IsTcp)
                {
                    var name = BackendResolver.InboundName(port.Port, http: false, service.Host);
                    resolver.Requests.TryAdd(name, new ClusterRequest(name, service, port, Http: false));
                }
            }
        }

        // Chains whose inputs changed are built in parallel: building reads the translation's indexes and the
        // resolver's recorded backends only, and each result lands in its own slot, so the output stays deterministic.
        var built = new ChainEntry[pending.Count];
        ForEach(pending.Count, i =>
        {
            var p = pending[i];
            built[i] = BuildChains(waypoint, p.Service, p.Vips, p.Attachments, gatewayRoutes, resolver, p.Inputs, new RouteBuilder.RoutePolicies(policies, gatewayPolicies, []), p.Authorization, p.Previous, Options.RequestMetrics);
        });
        for (var i = 0; i < pending.Count; i++)
        {
            chains[pending[i].Position] = built[i];
            used.Chains.TryAdd(pending[i].Key, built[i]);
        }

        foreach (var entry in chains)
        {
            // Conflicts are kept with the chain so that a cache hit still reports them.
            policies.AddConflicts(entry.Conflicts);
        }

        var listeners = new List<EncodedResource>(3) { _connectOriginateListener, ConnectTerminate(key) };
        var routeCount = 0;
        foreach (var entry in chains)
        {
            routeCount += entry.Routes.Length;
        }

        var routeConfigs = new List<EncodedResource>(routeCount);
        if (chains.Count > 0)
        {
            listeners.Add(MainInternal(key, chains, sniffed, declared.Except(sniffed).ToList(), used));
            foreach (var entry in chains)
            {
                routeConfigs.AddRange(entry.Routes);
            }
        }

        listeners.Sort(static (a, b) => string.CompareOrdinal(a.Name, b.Name));
        routeConfigs.Sort(static (a, b) => string.CompareOrdinal(a.Name, b.Name));

        var clusters = new List<EncodedResource>(resolver.Requests.Count + 4) { _mainInternalCluster, _encapCluster, ConnectOriginateCluster(key.Namespace) };
        if (chains.Any(c => c.Listener.UsesTransformation))
        {
            clusters.Add(_transformationCluster);
        }

        foreach (var jwksCluster in jwksClusters.Values)
        {
            clusters.Add(EncodedResource.Of(jwksCluster));
        }

        foreach (var extAuthzCluster in extAuthzClusters.Values)
        {
            clusters.Add(EncodedResource.Of(extAuthzCluster));
        }

        if (waypoint.Telemetry.Tracing && chains.Count > 0)
        {
            clusters.Add(CollectorCluster(waypoint.Telemetry));
        }

        var endpoints = new List<EncodedResource>(resolver.Requests.Count);
        AddServiceResources(resolver.Requests.Values.ToArray(), index, used, clusters, endpoints);
        clusters.Sort(static (a, b) => string.CompareOrdinal(a.Name, b.Name));
        endpoints.Sort(static (a, b) => string.CompareOrdinal(a.Name, b.Name));

        // What Envoy rejects in a RouteConfiguration comes from its service's routes and policies; main_internal (its HCMs
        // carry the policies' filters) from every route and policy of the waypoint; everything else from the Gateway alone.
        var sources = new Dictionary<(string TypeUrl, string Name), IReadOnlyList<SourceObject>>();
        var gatewaySource = new SourceObject(WellKnown.GatewayKind, key.Namespace, key.Name);
        // Each list is an array of its exact size (there is one per RouteConfiguration, so one per service), and the
        // resources that come from the Gateway alone share one.
        SourceObject[] gatewayOnly = [gatewaySource];
        if (chains.Count > 0)
        {
            sources[(Internal.Envoy.TypeUrl(Listener.Descriptor), WellKnown.MainInternal)] = WithGateway(gatewayOnly, routeSources);
        }

        foreach (var routeConfig in routeConfigs)
        {
            sources[(routeConfig.TypeUrl, routeConfig.Name)] = routeConfigSources.TryGetValue(routeConfig.Name, out var found) ? WithGateway(gatewayOnly, found) : gatewayOnly;
        }

        // A JWKS cluster comes from its RequestAuthentications, an ext_authz cluster from the CUSTOM policies that ask it.
        foreach (var (clusterName, found) in clusterSources)
        {
            sources[(Internal.Envoy.TypeUrl(Cluster.Descriptor), clusterName)] = WithGateway(gatewayOnly, found);
        }

        var encoded = new List<EncodedResource>(listeners.Count + routeConfigs.Count + clusters.Count + endpoints.Count);
        encoded.AddRange(listeners);
        encoded.AddRange(routeConfigs);
        encoded.AddRange(clusters);
        encoded.AddRange(endpoints);
        return new WaypointResources(
            VersionOf(encoded),
            new DecodedResources<Listener>(listeners),
            new DecodedResources<RouteConfiguration>(routeConfigs),
            new DecodedResources<Cluster>(clusters),
            new DecodedResources<ClusterLoadAssignment>(endpoints))
        {
            Encoded = encoded,
            Sources = sources,
            Gateway = gatewaySource,
        };
    }

    private static void AddSource(Dictionary<string, HashSet<SourceObject>> sources, string resource, SourceObject source)
    {
        if (!sources.TryGetValue(resource, out var set))
        {
            sources[resource] = set = [];
        }

        set.Add(source);
    }

    /// <summary>The Gateway, then <paramref name="found"/> sorted by kind, namespace and name; <paramref name="gatewayOnly"/> when there are none.</summary>
    private static SourceObject[] WithGateway(SourceObject[] gatewayOnly, HashSet<SourceObject> found)
    {
        if (found.Count == 0)
        {
            return gatewayOnly;
        }

        var sources = new SourceObject[found.Count + 1];
        sources[0] = gatewayOnly[0];
        var i = 1;
        foreach (var source in found)
        {
            sources[i++] = source;
        }

        Array.Sort(sources, 1, found.Count, SourceOrder.Instance);
        return sources;
    }

    private sealed class SourceOrder : IComparer<SourceObject>
    {
        public static readonly SourceOrder Instance = new();

        public int Compare(SourceObject? x, SourceObject? y)
        {
            if (ReferenceEquals(x, y))
            {
                return 0;
            }

            if (x is null || y is null)
            {
                return x is null ? -1 : 1;
            }

            var byKind = string.CompareOrdinal(x.Kind, y.Kind);
            if (byKind != 0)
            {
                return byKind;
            }

            var byNamespace = string.CompareOrdinal(x.Namespace, y.Namespace);
            return byNamespace != 0 ? byNamespace : string.CompareOrdinal(x.Name, y.Name);
        }
    }

    private static void AddSources(HashSet<SourceObject> sources, IReadOnlyList<ServiceAttachment> attachments, IReadOnlyList<CompiledRoute> gatewayRoutes, IReadOnlyList<Transformation.Compilation.CompiledTrafficPolicy> gatewayPolicies, TrafficPolicyIndex policies)
    {
        foreach (var policy in gatewayPolicies)
        {
            sources.Add(new SourceObject(WellKnown.TrafficPolicyKind, policy.Namespace, policy.Name));
        }

        foreach (var route in attachments.Select(a => a.Route).Concat(gatewayRoutes))
        {
            sources.Add(new SourceObject(WellKnown.HttpRouteKind, route.Namespace, route.Name));
            foreach (var policy in policies.Affecting(route))
            {
                sources.Add(new SourceObject(WellKnown.TrafficPolicyKind, policy.Namespace, policy.Name));
            }
        }
    }

    /// <summary>
    /// The cluster and (for EDS) load assignment of each requested service port: reused while their inputs are
    /// unchanged, the others built in parallel.
    /// </summary>
    private void AddServiceResources(ClusterRequest[] requests, SnapshotIndex index, Generation used, List<EncodedResource> clusters, List<EncodedResource> endpoints)
    {
        var serviceClusters = new EncodedResource[requests.Length];
        var assignments = new EncodedResource?[requests.Length];
        var missing = new List<(int Position, RefKey Inputs, bool Endpoints)>();
        for (var i = 0; i < requests.Length; i++)
        {
            var request = requests[i];
            var clusterInputs = ClusterInputs(request);
            if (Reuse(_clusters, used.Clusters, request.Name, clusterInputs) is { } cluster)
            {
                serviceClusters[i] = cluster;
            }
            else
            {
                missing.Add((i, clusterInputs, false));
            }

            if (!request.Service.DnsResolution)
            {
                var endpointInputs = new RefKey(EndpointResolver.Inputs(request.Service, request.Port, index));
                if (Reuse(_endpoints, used.Endpoints, request.Name, endpointInputs) is { } assignment)
                {
                    assignments[i] = assignment;
                }
                else
                {
                    missing.Add((i, endpointInputs, true));
                }
            }
        }

        var rebuilt = new CachedResource[missing.Count];
        ForEach(missing.Count, m =>
        {
            var (position, inputs, isEndpoints) = missing[m];
            var request = requests[position];
            rebuilt[m] = isEndpoints
                ? new CachedResource(EncodedResource.Of(ClusterBuilder.LoadAssignment(request.Name, EndpointResolver.Resolve(request.Service, request.Port, index, Options))), inputs)
                : new CachedResource(EncodedResource.Of(ClusterBuilder.Service(request, Options)), inputs);
        });
        for (var m = 0; m < missing.Count; m++)
        {
            var (position, _, isEndpoints) = missing[m];
            var name = requests[position].Name;
            if (isEndpoints)
            {
                used.Endpoints[name] = rebuilt[m];
                assignments[position] = rebuilt[m].Resource;
            }
            else
            {
                used.Clusters[name] = rebuilt[m];
                serviceClusters[position] = rebuilt[m].Resource;
            }
        }

        clusters.AddRange(serviceClusters);
        foreach (var assignment in assignments)
        {
            if (assignment is not null)
            {
                endpoints.Add(assignment);
            }
        }
    }

    /// <summary>The resource built from <paramref name="inputs"/> by this or the previous translation, else null.</summary>
    private static EncodedResource? Reuse(Dictionary<string, CachedResource> previous, Dictionary<string, CachedResource> current, string name, RefKey inputs)
    {
        if ((current.TryGetValue(name, out var cached) && cached.Inputs.Equals(inputs))
            || (previous.TryGetValue(name, out cached) && cached.Inputs.Equals(inputs)))
        {
            current[name] = cached;
            return cached.Resource;
        }

        return null;
    }

    /// <summary>A hash over every resource's content hash, in output order.</summary>
    private static string VersionOf(List<EncodedResource> resources)
    {
        var size = resources.Count * 16;
        var buffer = ArrayPool<byte>.Shared.Rent(size);
        try
        {
            for (var i = 0; i < resources.Count; i++)
            {
                BinaryPrimitives.WriteUInt128LittleEndian(buffer.AsSpan(i * 16, 16), resources[i].Hash);
            }

            Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
            SHA256.HashData(buffer.AsSpan(0, size), digest);
            return Convert.ToHexStringLower(digest[..16]);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Resolves the backends of the routes a port would serve; the names key the chain cache.</summary>
    private static void AddBackendFingerprint(List<object?> inputs, IReadOnlyList<ServiceAttachment> attachments, IReadOnlyList<CompiledRoute> gatewayRoutes, ServicePortModel port, BackendResolver resolver)
    {
        foreach (var attachment in attachments)
        {
            if (attachment.Port is null || attachment.Port == port.Port)
            {
                AddBackendFingerprint(inputs, attachment.Route, port, resolver);
            }
        }

        foreach (var route in gatewayRoutes)
        {
            AddBackendFingerprint(inputs, route, port, resolver);
        }
    }

    private static void AddBackendFingerprint(List<object?> inputs, CompiledRoute route, ServicePortModel port, BackendResolver resolver)
    {
        foreach (var rule in route.Rules)
        {
            if (rule.BackendRefs is { } backends)
            {
                foreach (var backend in backends)
                {
                    inputs.Add(resolver.Resolve(route.Namespace, backend, port.Port));
                }
            }

            if (rule.Filters is { } filters)
            {
                foreach (var filter in filters)
                {
                    if (filter.RequestMirror?.BackendRef is { } b)
                    {
                        inputs.Add(resolver.Resolve(route.Namespace, b, port.Port));
                    }
                }
            }
        }
    }

    /// <summary>
    /// The cluster each CUSTOM provider on the service is asked through: a mesh Service of the snapshot is reached as a
    /// route backend would be (its own chain if bound to this waypoint, else HBONE to its pods); any other host through
    /// the provider's DNS (or static IP) cluster, added to <paramref name="dnsClusters"/>.
    /// </summary>
    private static ServiceAuthorization ResolveExtAuthz(ServiceAuthorization authz, SnapshotIndex index, BackendResolver resolver, SortedDictionary<string, Cluster> dnsClusters)
    {
        Dictionary<string, string>? clusters = null;
        foreach (var provider in authz.ExtAuthzProviders())
        {
            string? cluster = null;
            if (provider.MeshService is { } mesh && index.Service(mesh.Ns, mesh.Name) is not null)
            {
                cluster = resolver.Resolve(mesh.Ns, new Model.BackendObjectReference { Name = mesh.Name, Namespace = mesh.Ns, Port = provider.Port }, provider.Port);
            }

            if (cluster is null)
            {
                cluster = provider.DnsCluster!.Name;
                dnsClusters.TryAdd(cluster, provider.DnsCluster);
            }

            (clusters ??= new Dictionary<string, string>(StringComparer.Ordinal))[provider.Name] = cluster;
        }

        return clusters is null ? authz : authz with { ExtAuthzClusters = clusters };
    }

    private static ChainEntry BuildChains(
        WaypointGateway waypoint,
        ServiceModel service,
        List<string> vips,
        IReadOnlyList<ServiceAttachment> attachments,
        IReadOnlyList<CompiledRoute> gatewayRoutes,
        BackendResolver resolver,
        RefKey inputs,
        RouteBuilder.RoutePolicies policies,
        ServiceAuthorization authorization,
        ChainEntry? previous,
        bool requestMetrics)
    {
        var destination = requestMetrics ? new RequestMetricsEnvoyConfig.DestinationService(service.Host, service.Name, service.Namespace) : null;
        var chains = new List<FilterChain>();
        var routeConfigs = new List<EncodedResource>(service.Ports.Count);
        var usesTransformation = false;
        var portChains = new List<(ServicePortModel, string?, string?)>();
        foreach (var port in service.Ports)
        {
            string? httpChain = null;
            string? tcpChain = null;
            if (port.IsHttp)
            {
                httpChain = BackendResolver.InboundName(port.Port, http: true, service.Host);
                var serviceRoutes = new List<CompiledRoute>(attachments.Count);
                foreach (var attachment in attachments)
                {
                    if ((attachment.Port is null || attachment.Port == port.Port) && !serviceRoutes.Contains(attachment.Route))
                    {
                        serviceRoutes.Add(attachment.Route);
                    }
                }

                // The RouteConfiguration is named after its chain: one per service VIP:port, stable across edits.
                var routeConfig = RouteBuilder.Build(httpChain, service, port, serviceRoutes, gatewayRoutes, resolver, httpChain, policies);
                if (!authorization.IsEmpty)
                {
                    AuthorizationFilters.Apply(routeConfig, authorization, port.Port);
                }

                if (waypoint.Telemetry.Tracing)
                {
                    TelemetryBuilder.Decorate(routeConfig, service, port);
                }

                var transformation = RouteBuilder.UsesTransformationService(routeConfig);
                usesTransformation |= transformation;
                chains.Add(ListenerBuilder.HttpChain(
                    httpChain, port, routeConfig.Name, transformation, AuthorizationFilters.HttpFilters(authorization), waypoint.Telemetry, waypoint.Key.ToString(), destination));
                routeConfigs.Add(ReuseIfEqual(EncodedResource.Of(routeConfig), previous));
            }

            if (port.IsTcp)
            {
                tcpChain = BackendResolver.InboundName(port.Port, http: false, service.Host);
                chains.Add(ListenerBuilder.TcpChain(tcpChain, tcpChain, port.Port, authorization.Service, waypoint.Telemetry.AccessLogs, destination));
            }

            portChains.Add((port, httpChain, tcpChain));
        }

        var rangeMatcher = ListenerBuilder.RangeMatcher(vips, ListenerBuilder.PortMatcher(portChains));
        var listenerPart = new ServiceChains(EncodedChains.Of(chains, rangeMatcher), usesTransformation);
        if (previous is not null && previous.Listener.SameEncoding(listenerPart))
        {
            listenerPart = previous.Listener;
        }

        return new ChainEntry(inputs, listenerPart, routeConfigs.ToArray(), policies.Conflicts.Distinct().ToList());
    }

    /// <summary>The previous translation's encoding of the same RouteConfiguration when it is byte for byte equal, so its xDS resource is reused.</summary>
    private static EncodedResource ReuseIfEqual(EncodedResource routes, ChainEntry? previous)
    {
        if (previous is not null)
        {
            foreach (var old in previous.Routes)
            {
                if (old.Name == routes.Name && old.Hash == routes.Hash && old.Bytes.Equals(routes.Bytes))
                {
                    return old;
                }
            }
        }

        return routes;
    }

    /// <summary>
    /// <c>main_internal</c>: reused as it is while the waypoint's chain entries (compared by reference, since an entry is
    /// rebuilt whenever its inputs change) and the listener shell are unchanged, else rebuilt and encoded again.
    /// </summary>
    private EncodedResource MainInternal(WaypointKey key, List<ChainEntry> chains, HashSet<int> sniffed, List<int> declaredOnly, Generation used)
    {
        var shell = ListenerBuilder.MainInternalShell(sniffed, declaredOnly);
        var shellBytes = shell.ToByteString();
        var parts = chains.ConvertAll(c => c.Listener);
        if (_mainListeners.TryGetValue(key, out var cached) && cached.ShellBytes.Equals(shellBytes) && cached.Chains.AsSpan().SequenceEqual(CollectionsMarshal.AsSpan(parts), ReferenceEqualityComparer.Instance))
        {
            used.MainListeners[key] = cached;
            return cached.Resource;
        }

        // Only the encoding is kept (EncodedResource): the listener message itself is never assembled.
        var bytes = EncodedChains.CompleteMainListener(shell, shellBytes.Span, parts.ConvertAll(c => c.Encoded));
        var listener = new MainListener(parts.ToArray(), shellBytes, EncodedResource.OfListener(shell.Name, bytes));
        used.MainListeners[key] = listener;
        return listener.Resource;
    }

    private EncodedResource ConnectTerminate(WaypointKey key)
    {
        var address = Options.HboneBindAddressOf?.Invoke(key) ?? Options.HboneBindAddress;
        if (!_connectTerminate.TryGetValue(address, out var listener))
        {
            _connectTerminate[address] = listener = EncodedResource.Of(ListenerBuilder.ConnectTerminate(Options, address));
        }

        return listener;
    }

    /// <summary>The tracing collector's cluster, encoded once per collector and reused by every waypoint that exports to it.</summary>
    private EncodedResource CollectorCluster(WaypointTelemetry telemetry)
    {
        var key = Internal.Envoy.HostPort(telemetry.CollectorHost!, telemetry.CollectorPort);
        if (!_collectors.TryGetValue(key, out var cluster))
        {
            _collectors[key] = cluster = EncodedResource.Of(TelemetryBuilder.CollectorCluster(telemetry, Options));
        }

        return cluster;
    }

    private EncodedResource ConnectOriginateCluster(string waypointNamespace)
    {
        if (!_connectOriginate.TryGetValue(waypointNamespace, out var cluster))
        {
            _connectOriginate[waypointNamespace] = cluster = EncodedResource.Of(ClusterBuilder.ConnectOriginate(Options, waypointNamespace));
        }

        return cluster;
    }

    private static RefKey ClusterInputs(ClusterRequest request)
    {
        var port = request.Port;
        return new RefKey([request.Service.Source, request.Service.Host, port.Port, port.Name, port.Protocol, port.TargetPort?.Value, request.Http]);
    }

    /// <summary>Runs <paramref name="body"/> for 0..count-1 on up to <see cref="TranslatorOptions.Parallelism"/> threads.</summary>
    private void ForEach(int count, Action<int> body)
    {
        if (count < ParallelThreshold || Options.Parallelism <= 1)
        {
            for (var i = 0; i < count; i++)
            {
                body(i);
            }

            return;
        }

        try
        {
            Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = Options.Parallelism }, body);
        }
        catch (AggregateException e) when (e.InnerExceptions.Count == 1)
        {
            ExceptionDispatchInfo.Throw(e.InnerExceptions[0]);
        }
    }

    /// <param name="Previous">What the previous translation built for this service (its inputs differ), to reuse equal pieces.</param>
    private readonly record struct PendingChain(int Position, ChainKey Key, ServiceModel Service, List<string> Vips, IReadOnlyList<ServiceAttachment> Attachments, ServiceAuthorization Authorization, RefKey Inputs, ChainEntry? Previous);

    private readonly record struct ChainKey(WaypointKey Waypoint, string Kind, string Namespace, string Name, string Host);

    /// <summary>One service's part of the waypoint: its filter chains and, per HTTP port, its RouteConfiguration.</summary>
    /// <param name="Routes">The RouteConfigurations of the service's HTTP chains (RDS), in port order.</param>
    private sealed record ChainEntry(
        RefKey Inputs,
        ServiceChains Listener,
        EncodedResource[] Routes,
        IReadOnlyList<PolicyConflict> Conflicts);

    /// <summary>
    /// What one service puts into <c>main_internal</c>. Kept by reference across translations while its encoding is
    /// unchanged (routes come over RDS, so a route edit usually leaves it as it is), so that <c>main_internal</c> is
    /// reused without being encoded again.
    /// </summary>
    private sealed record ServiceChains(EncodedChains Encoded, bool UsesTransformation)
    {
        public bool SameEncoding(ServiceChains other) =>
            Encoded.Chains.Span.SequenceEqual(other.Encoded.Chains.Span) && Encoded.RangeMatcher.Span.SequenceEqual(other.Encoded.RangeMatcher.Span);
    }

    /// <summary>An encoded resource and the inputs it was built from.</summary>
    private sealed record CachedResource(EncodedResource Resource, RefKey Inputs);

    private sealed record MainListener(ServiceChains[] Chains, ByteString ShellBytes, EncodedResource Resource);

    /// <summary>What one translation used; sized from the previous one, which it usually resembles.</summary>
    private sealed class Generation(int chains, int clusters, int endpoints)
    {
        public Dictionary<ChainKey, ChainEntry> Chains { get; } = new(chains);

        public Dictionary<string, CachedResource> Clusters { get; } = new(clusters, StringComparer.Ordinal);

        public Dictionary<string, CachedResource> Endpoints { get; } = new(endpoints, StringComparer.Ordinal);

        public Dictionary<WaypointKey, MainListener> MainListeners { get; } = [];

        public Dictionary<string, TrafficPolicyCompileResult> Policies { get; } = new(StringComparer.Ordinal);

        public Dictionary<string, CompiledAuthorizationPolicy> Authorization { get; } = new(StringComparer.Ordinal);

        public Dictionary<string, CompiledRequestAuthentication> Authentication { get; } = new(StringComparer.Ordinal);
    }
}
