using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using k8s;
using k8s.Models;
using Waypoint.Translator.Model;

namespace Waypoint.Local.Topology;

/// <summary>
/// Reads a directory of ordinary Kubernetes YAML into a <see cref="LocalTopology"/>: the translator's kinds through
/// <see cref="KubernetesObjectLoader"/>, Deployments here (each replica becomes a pod), then allocates addresses and
/// synthesizes what a cluster would add (pod IPs, Service VIPs, EndpointSlices, Gateway addresses).
/// </summary>
public static partial class LocalTopologyLoader
{
    public const string UseWaypointLabel = "istio.io/use-waypoint";
    public const string UseWaypointNamespaceLabel = "istio.io/use-waypoint-namespace";
    public const string ServiceAccountAnnotation = "gateway.istio.io/service-account";
    private const string ServiceNameLabel = "kubernetes.io/service-name";
    private const string DataplaneModeLabel = "istio.io/dataplane-mode";
    private static readonly string[] s_waypointClasses = ["kgateway-waypoint", "istio-waypoint"];

    /// <summary>The controller name of the translator's defaults and of the install.</summary>
    private static readonly string s_installedControllerName = new global::Waypoint.Translator.TranslatorOptions().ControllerName;

    /// <summary>Loads every <c>*.yaml</c>/<c>*.yml</c> under <paramref name="directory"/>.</summary>
    public static LocalTopology LoadDirectory(string directory, string trustDomain = "cluster.local")
    {
        ArgumentNullException.ThrowIfNull(directory);
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"The configuration directory '{directory}' does not exist.");
        }

        var loaded = KubernetesObjectLoader.LoadDirectory(directory);
        var deployments = new List<V1Deployment>();
        var errors = loaded.Errors.Select(e => e.ToString()).ToList();
        var files = Directory.EnumerateFiles(directory, "*.*", SearchOption.AllDirectories)
            .Where(f => f.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".yml", StringComparison.OrdinalIgnoreCase))
            .Order(StringComparer.Ordinal);
        foreach (var file in files)
        {
            ReadDeployments(File.ReadAllText(file), Path.GetRelativePath(directory, file), deployments, errors);
        }

        var ignored = loaded.Ignored
            .Where(i => !i.Message.Contains("'Deployment'", StringComparison.Ordinal))
            .Select(i => i.ToString())
            .ToList();
        return Build(loaded.Objects, deployments, trustDomain, errors, ignored);
    }

    /// <summary>Builds a topology from already-loaded objects.</summary>
    public static LocalTopology Build(
        IEnumerable<IKubernetesObject<V1ObjectMeta>> objects,
        IEnumerable<V1Deployment> deployments,
        string trustDomain = "cluster.local",
        IEnumerable<string>? loadErrors = null,
        IEnumerable<string>? ignored = null)
    {
        ArgumentNullException.ThrowIfNull(objects);
        ArgumentNullException.ThrowIfNull(deployments);
        var errors = new List<string>();
        var builder = ClusterSnapshot.CreateBuilder();
        var all = objects.ToList();
        builder.AddRange(all);
        var source = builder.Build();

        var podObjects = source.Pods.ToList();
        foreach (var deployment in deployments.OrderBy(d => $"{d.Namespace()}/{d.Name()}", StringComparer.Ordinal))
        {
            podObjects.AddRange(PodsOf(deployment));
        }

        var namespaces = source.Namespaces.ToDictionary(n => n.Name(), StringComparer.Ordinal);
        var waypoints = AllocateWaypoints(source.Gateways);
        var pods = AllocatePods(podObjects, namespaces, errors);
        var vips = new AddressAllocator(AddressAllocator.ServiceBlock);
        var services = new List<LocalService>();
        var slices = source.EndpointSlices.ToList();
        foreach (var service in source.Services.OrderBy(s => $"{s.Namespace()}/{s.Name()}", StringComparer.Ordinal))
        {
            var local = BuildService(service, pods, podObjects, vips, namespaces, waypoints, errors);
            if (local is null)
            {
                continue;
            }

            services.Add(local);
            service.Spec.ClusterIP = local.Address.ToString();
            service.Spec.ClusterIPs = [local.Address.ToString()];
            if (!slices.Any(s => s.Namespace() == local.Namespace && s.GetLabel(ServiceNameLabel) == local.Name))
            {
                slices.Add(SynthesizeSlice(local));
            }
        }

        foreach (var gateway in source.Gateways)
        {
            var waypoint = waypoints.FirstOrDefault(w => w.Name == gateway.Name() && w.Namespace == gateway.Namespace());
            if (waypoint is not null)
            {
                gateway.Status ??= new V1GatewayStatus();
                gateway.Status.Addresses = [new GatewayStatusAddress { Type = "IPAddress", Value = waypoint.Address.ToString() }];
            }
        }

        var snapshot = source with
        {
            GatewayClasses = WithInstalledClasses(source.GatewayClasses),
            Pods = podObjects.Where(p => pods.ContainsKey($"{p.Namespace()}/{p.Name()}")).ToArray(),
            EndpointSlices = slices.ToArray(),
        };

        // Pods of the local mesh have a local ztunnel role but are not themselves waypoints.
        var podList = pods.Values.OrderBy(p => p.Key, StringComparer.Ordinal).ToArray();
        return new LocalTopology
        {
            Pods = podList,
            Services = services,
            Waypoints = waypoints,
            Snapshot = snapshot,
            Errors = (loadErrors ?? []).ToArray(),
            Warnings = errors,
            Ignored = (ignored ?? []).ToArray(),
            TrustDomain = trustDomain,
        };
    }

    private static void ReadDeployments(string yaml, string source, List<V1Deployment> deployments, List<string> errors)
    {
        var index = -1;
        foreach (var document in DocumentSeparator().Split(yaml))
        {
            index++;
            if (!DeploymentKind().IsMatch(document))
            {
                continue;
            }

            try
            {
                var deployment = KubernetesYaml.Deserialize<V1Deployment>(document);
                if (string.IsNullOrEmpty(deployment?.Metadata?.Name))
                {
                    errors.Add($"{source}[{index}]: Deployment has no metadata.name.");
                    continue;
                }

                deployment.Metadata.NamespaceProperty ??= "default";
                deployments.Add(deployment);
            }
            catch (Exception ex) when (ex is YamlDotNet.Core.YamlException or FormatException or InvalidOperationException or System.Text.Json.JsonException)
            {
                errors.Add($"{source}[{index}]: Deployment is invalid: {ex.Message}");
            }
        }
    }

    /// <summary>Each replica of a Deployment as a Pod named <c>&lt;deployment&gt;-&lt;n&gt;</c> with the template's labels and spec.</summary>
    private static IEnumerable<V1Pod> PodsOf(V1Deployment deployment)
    {
        var replicas = deployment.Spec?.Replicas ?? 1;
        for (var i = 0; i < replicas; i++)
        {
            var template = deployment.Spec?.Template;
            yield return new V1Pod
            {
                ApiVersion = "v1",
                Kind = "Pod",
                Metadata = new V1ObjectMeta
                {
                    Name = $"{deployment.Name()}-{i.ToString(CultureInfo.InvariantCulture)}",
                    NamespaceProperty = deployment.Namespace(),
                    Labels = template?.Metadata?.Labels is { } labels ? new Dictionary<string, string>(labels) : new Dictionary<string, string>(),
                    Annotations = template?.Metadata?.Annotations is { } annotations ? new Dictionary<string, string>(annotations) : null,
                },
                Spec = template?.Spec ?? new V1PodSpec { Containers = [] },
            };
        }
    }

    /// <summary>
    /// The GatewayClasses an install creates (manifests/ and the Helm chart: <c>kgateway-waypoint</c>, naming our
    /// controller), unless the topology declares its own: the translator takes a Gateway as ours only through its class.
    /// </summary>
    private static V1GatewayClass[] WithInstalledClasses(IReadOnlyList<V1GatewayClass> declared)
    {
        var classes = declared.ToList();
        foreach (var name in s_waypointClasses)
        {
            if (!classes.Any(c => c.Name() == name))
            {
                classes.Add(new V1GatewayClass
                {
                    Metadata = new V1ObjectMeta { Name = name },
                    Spec = new V1GatewayClassSpec { ControllerName = s_installedControllerName },
                });
            }
        }

        return classes.ToArray();
    }

    private static List<LocalWaypoint> AllocateWaypoints(IReadOnlyList<V1Gateway> gateways)
    {
        var allocator = new AddressAllocator(AddressAllocator.WaypointBlock);
        var result = new List<LocalWaypoint>();
        foreach (var gateway in gateways.OrderBy(g => $"{g.Namespace()}/{g.Name()}", StringComparer.Ordinal))
        {
            var isWaypoint = s_waypointClasses.Contains(gateway.Spec.GatewayClassName, StringComparer.Ordinal)
                || gateway.Spec.Listeners.Any(l => string.Equals(l.Protocol, "HBONE", StringComparison.Ordinal));
            if (!isWaypoint)
            {
                continue;
            }

            var serviceAccount = gateway.GetAnnotation(ServiceAccountAnnotation) ?? gateway.Name();
            result.Add(new LocalWaypoint(gateway.Name(), gateway.Namespace(), allocator.Allocate($"{gateway.Namespace()}/{gateway.Name()}"), serviceAccount));
        }

        return result;
    }

    private static Dictionary<string, LocalPod> AllocatePods(List<V1Pod> podObjects, Dictionary<string, V1Namespace> namespaces, List<string> errors)
    {
        var allocator = new AddressAllocator(AddressAllocator.PodBlock);
        var result = new Dictionary<string, LocalPod>(StringComparer.Ordinal);

        // Pods whose YAML already carries a loopback podIP keep it; reserve those first.
        var ordered = podObjects.OrderBy(p => $"{p.Namespace()}/{p.Name()}", StringComparer.Ordinal).ToList();
        var chosen = new Dictionary<string, IPAddress>(StringComparer.Ordinal);
        foreach (var pod in ordered)
        {
            if (IPAddress.TryParse(pod.Status?.PodIP, out var ip) && AddressAllocator.IsLoopback(ip))
            {
                if (allocator.TryReserve(ip))
                {
                    chosen[$"{pod.Namespace()}/{pod.Name()}"] = ip;
                }
                else
                {
                    errors.Add($"Pod {pod.Namespace()}/{pod.Name()}: podIP {ip} is used by another pod; allocating a new one.");
                }
            }
        }

        foreach (var pod in ordered)
        {
            var key = $"{pod.Namespace()}/{pod.Name()}";
            if (result.ContainsKey(key))
            {
                errors.Add($"Pod {key} is defined twice; the first definition is used.");
                continue;
            }

            var address = chosen.TryGetValue(key, out var reserved) ? reserved : allocator.Allocate(key);
            pod.Status ??= new V1PodStatus();
            pod.Status.PodIP = address.ToString();
            pod.Status.PodIPs = [new V1PodIP { Ip = address.ToString() }];
            pod.Status.Phase = "Running";
            pod.Status.Conditions = [new V1PodCondition { Status = "True", Type = "Ready" }];

            // Every local pod sits behind a ztunnel role, as if its namespace were enrolled in ambient mode.
            pod.Metadata.Labels ??= new Dictionary<string, string>();
            if (!pod.Metadata.Labels.ContainsKey(DataplaneModeLabel)
                && !(namespaces.TryGetValue(pod.Namespace(), out var ns) && ns.GetLabel(DataplaneModeLabel) is not null))
            {
                pod.Metadata.Labels[DataplaneModeLabel] = "ambient";
            }

            var ports = (pod.Spec?.Containers ?? [])
                .SelectMany(c => c.Ports ?? [])
                .Select(p => new LocalPodPort(p.ContainerPort, LocalProtocol.Http))
                .DistinctBy(p => p.Port)
                .ToList();
            result[key] = new LocalPod(
                pod.Name(),
                pod.Namespace(),
                address,
                pod.Spec?.ServiceAccountName ?? pod.Spec?.ServiceAccount ?? "default",
                pod.Metadata.Labels is { } labels ? new Dictionary<string, string>(labels, StringComparer.Ordinal) : new Dictionary<string, string>(StringComparer.Ordinal),
                ports);
        }

        return result;
    }

    private static LocalService? BuildService(
        V1Service service,
        Dictionary<string, LocalPod> pods,
        List<V1Pod> podObjects,
        AddressAllocator vips,
        Dictionary<string, V1Namespace> namespaces,
        List<LocalWaypoint> waypoints,
        List<string> errors)
    {
        var key = $"{service.Namespace()}/{service.Name()}";
        if (string.Equals(service.Spec?.Type, "ExternalName", StringComparison.Ordinal))
        {
            errors.Add($"Service {key}: ExternalName services have no local pods; skipped.");
            return null;
        }

        IPAddress address;
        if (IPAddress.TryParse(service.Spec?.ClusterIP, out var given) && AddressAllocator.IsLoopback(given) && vips.TryReserve(given))
        {
            address = given;
        }
        else
        {
            address = vips.Allocate(key);
        }

        var selector = service.Spec?.Selector;
        var selected = selector is null || selector.Count == 0
            ? []
            : pods.Values
                .Where(p => p.Namespace == service.Namespace() && selector.All(kv => p.Labels.TryGetValue(kv.Key, out var v) && v == kv.Value))
                .OrderBy(p => p.Key, StringComparer.Ordinal)
                .ToList();

        var ports = new List<LocalServicePort>();
        foreach (var port in service.Spec?.Ports ?? [])
        {
            if (string.Equals(port.Protocol, "UDP", StringComparison.OrdinalIgnoreCase) || string.Equals(port.Protocol, "SCTP", StringComparison.OrdinalIgnoreCase))
            {
                errors.Add($"Service {key} port {port.Port}: {port.Protocol} is not carried by HBONE; skipped.");
                continue;
            }

            var target = ResolveTargetPort(port, selected, podObjects);
            if (target is null)
            {
                errors.Add($"Service {key} port {port.Port}: targetPort '{port.TargetPort?.Value}' names no container port of the selected pods; skipped.");
                continue;
            }

            ports.Add(new LocalServicePort(port.Name, port.Port, target.Value, ProtocolOf(port)));
        }

        // Pods serve every target port of the Services selecting them, with the Service's protocol.
        foreach (var pod in selected)
        {
            var podPorts = pod.Ports.ToDictionary(p => p.Port);
            foreach (var port in ports)
            {
                if (!podPorts.TryGetValue(port.TargetPort, out var existing) || port.Protocol == LocalProtocol.Tcp)
                {
                    podPorts[port.TargetPort] = new LocalPodPort(port.TargetPort, existing?.Protocol == LocalProtocol.Tcp ? LocalProtocol.Tcp : port.Protocol);
                }
            }

            pods[pod.Key] = pod with { Ports = podPorts.Values.OrderBy(p => p.Port).ToArray() };
        }

        selected = selected.Select(p => pods[p.Key]).ToList();
        var waypoint = ResolveWaypoint(service, namespaces, waypoints, errors);
        return new LocalService(service.Name(), service.Namespace(), address, ports, selected, waypoint);
    }

    private static int? ResolveTargetPort(V1ServicePort port, List<LocalPod> selected, List<V1Pod> podObjects)
    {
        var target = port.TargetPort?.Value;
        if (string.IsNullOrEmpty(target))
        {
            return port.Port;
        }

        if (int.TryParse(target, NumberStyles.None, CultureInfo.InvariantCulture, out var number))
        {
            return number;
        }

        foreach (var pod in selected)
        {
            var spec = podObjects.First(p => p.Name() == pod.Name && p.Namespace() == pod.Namespace).Spec;
            var match = (spec?.Containers ?? []).SelectMany(c => c.Ports ?? []).FirstOrDefault(p => p.Name == target);
            if (match is not null)
            {
                return match.ContainerPort;
            }
        }

        return null;
    }

    /// <summary>Istio's rules: appProtocol first, then the port-name prefix; anything else is sniffed, which the echo app answers as HTTP.</summary>
    internal static LocalProtocol ProtocolOf(V1ServicePort port)
    {
        var declared = port.AppProtocol ?? port.Name?.Split('-', 2)[0];
        return declared?.ToLowerInvariant() switch
        {
            "tcp" or "tls" or "mongo" or "mysql" or "redis" or "https" => LocalProtocol.Tcp,
            _ => LocalProtocol.Http,
        };
    }

    private static LocalWaypoint? ResolveWaypoint(V1Service service, Dictionary<string, V1Namespace> namespaces, List<LocalWaypoint> waypoints, List<string> errors)
    {
        namespaces.TryGetValue(service.Namespace(), out var ns);
        string? name;
        string? waypointNamespace;
        if (service.GetLabel(UseWaypointLabel) is { } own)
        {
            name = own;
            waypointNamespace = service.GetLabel(UseWaypointNamespaceLabel);
        }
        else
        {
            name = ns?.GetLabel(UseWaypointLabel);
            waypointNamespace = ns?.GetLabel(UseWaypointNamespaceLabel);
        }

        if (string.IsNullOrEmpty(name) || name == "none")
        {
            return null;
        }

        waypointNamespace ??= service.Namespace();
        var waypoint = waypoints.FirstOrDefault(w => w.Name == name && w.Namespace == waypointNamespace);
        if (waypoint is null)
        {
            errors.Add($"Service {service.Namespace()}/{service.Name()} uses waypoint {waypointNamespace}/{name}, which is not a waypoint Gateway here; its traffic goes straight to the pods.");
        }

        return waypoint;
    }

    private static V1EndpointSlice SynthesizeSlice(LocalService service) => new()
    {
        ApiVersion = "discovery.k8s.io/v1",
        Kind = "EndpointSlice",
        AddressType = "IPv4",
        Metadata = new V1ObjectMeta
        {
            Name = $"{service.Name}-local",
            NamespaceProperty = service.Namespace,
            Labels = new Dictionary<string, string> { [ServiceNameLabel] = service.Name },
        },
        Ports = service.Ports.Select(p => new Discoveryv1EndpointPort { Name = p.Name ?? string.Empty, Port = p.TargetPort, Protocol = "TCP" }).ToList(),
        Endpoints = service.Pods.Select(p => new V1Endpoint
        {
            Addresses = [p.Address.ToString()],
            Conditions = new V1EndpointConditions { Ready = true, Serving = true, Terminating = false },
            TargetRef = new V1ObjectReference { Kind = "Pod", Name = p.Name, NamespaceProperty = p.Namespace },
        }).ToList(),
    };

    [GeneratedRegex(@"^---[ \t]*(?:#.*)?$", RegexOptions.Multiline)]
    private static partial Regex DocumentSeparator();

    [GeneratedRegex(@"^kind:[ \t]*[""']?Deployment[""']?[ \t]*$", RegexOptions.Multiline)]
    private static partial Regex DeploymentKind();
}
