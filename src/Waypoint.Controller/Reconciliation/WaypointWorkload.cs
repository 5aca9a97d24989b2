using System.Security.Cryptography;
using System.Text;
using k8s;
using k8s.Models;
using Waypoint.Translator.Model;

namespace Waypoint.Controller.Reconciliation;

/// <summary>What a waypoint Deployment is made of after defaults, GatewayClass parameters and Gateway parameters.</summary>
internal sealed record WaypointSettings(
    int Replicas,
    IReadOnlyDictionary<string, string> Labels,
    IReadOnlyDictionary<string, string> Annotations,
    string EnvoyImage,
    string AgentImage,
    V1ResourceRequirements EnvoyResources,
    V1ResourceRequirements AgentResources,
    string EnvoyLogLevel);

/// <summary>The objects a waypoint Gateway owns.</summary>
internal sealed record WaypointObjects(V1ServiceAccount ServiceAccount, V1ConfigMap Bootstrap, V1Deployment Deployment, V1Service Service)
{
    public IEnumerable<(Client.ResourceKind Kind, IKubernetesObject<V1ObjectMeta> Object)> All()
    {
        yield return (Client.ResourceKind.ServiceAccounts, ServiceAccount);
        yield return (Client.ResourceKind.ConfigMaps, Bootstrap);
        yield return (Client.ResourceKind.Deployments, Deployment);
        yield return (Client.ResourceKind.Services, Service);
    }
}

/// <summary>Builds the desired ServiceAccount, bootstrap ConfigMap, Deployment and Service of a waypoint Gateway (pure).</summary>
internal static class WaypointWorkload
{
    public const string GatewayNameLabel = GatewayApi.GatewayNameLabel;
    public const string GatewayClassNameLabel = "gateway.networking.k8s.io/gateway-class-name";
    public const int AgentHealthPort = 15020;
    public const int StatsPort = 15090;
    public const string EnvoyAdminAddress = "127.0.0.1:15000";

    /// <summary>
    /// Envoy's graceful drain on termination (<c>--drain-time-s</c>, and the preStop hooks' wait): HBONE tunnels get
    /// GOAWAY and their streams this long to finish before SIGTERM. The grace period adds room for Envoy to exit.
    /// </summary>
    public const int DrainSeconds = 20;
    public const int TerminationGracePeriodSeconds = DrainSeconds + 10;
    public const string ManagedByLabel = "app.kubernetes.io/managed-by";
    public const string ManagedByValue = "waypoint-controller";
    public const string ConfigHashAnnotation = "gateway.kgateway.dev/config-hash";
    public const string MeshPortName = "mesh";
    public const int MeshPort = 15008;
    public const string TokenDirectory = "/var/run/secrets/tokens";
    public const string RootCertDirectory = "/var/run/secrets/istio";
    public const string BootstrapDirectory = "/etc/waypoint/bootstrap";

    /// <summary>Shared by Envoy and the agent: the TrafficPolicy transformation service's Unix socket (ext_proc).</summary>
    public static readonly string TransformationSocketDirectory = Path.GetDirectoryName(Waypoint.Transformation.Compilation.TransformationExtProc.DefaultSocketPath)!;

    public static string BootstrapConfigMapName(string gateway) => $"{gateway}-bootstrap";

    public static WaypointSettings Resolve(WaypointControllerOptions options, V1Gateway gateway, params V1alpha1WaypointParameters?[] parameters)
    {
        var labels = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var annotations = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var replicas = options.DefaultReplicas;
        string envoyImage = options.EnvoyImage, agentImage = options.AgentImage, logLevel = "info";
        var envoyResources = Resources("100m", "128Mi", null, "1Gi");
        var agentResources = Resources("10m", "32Mi", null, "128Mi");

        // Later parameters win: class parameters, then the Gateway's own, then spec.infrastructure (Gateway API's standard knob).
        foreach (var p in parameters)
        {
            if (p?.Spec is not { } spec)
            {
                continue;
            }

            replicas = spec.Replicas ?? replicas;
            Merge(labels, spec.Labels);
            Merge(annotations, spec.Annotations);
            envoyImage = spec.Envoy?.Image ?? envoyImage;
            agentImage = spec.Agent?.Image ?? agentImage;
            logLevel = spec.Envoy?.LogLevel ?? logLevel;
            envoyResources = spec.Envoy?.Resources ?? envoyResources;
            agentResources = spec.Agent?.Resources ?? agentResources;
        }

        Merge(labels, gateway.Spec.Infrastructure?.Labels);
        Merge(annotations, gateway.Spec.Infrastructure?.Annotations);
        return new WaypointSettings(replicas, labels, annotations, envoyImage, agentImage, envoyResources, agentResources, logLevel);
    }

    public static WaypointObjects Build(V1Gateway gateway, WaypointSettings settings, WaypointControllerOptions options)
    {
        var name = gateway.Metadata.Name;
        var ns = gateway.Metadata.NamespaceProperty;
        var owner = new V1OwnerReference
        {
            ApiVersion = gateway.ApiVersion,
            Kind = gateway.Kind,
            Name = name,
            Uid = gateway.Metadata.Uid,
            // No blockOwnerDeletion: it needs update on gateways/finalizers, which the controller is not granted.
            Controller = true,
        };

        Dictionary<string, string> ObjectLabels()
        {
            var labels = new Dictionary<string, string>(settings.Labels, StringComparer.Ordinal)
            {
                [GatewayNameLabel] = name,
                [ManagedByLabel] = ManagedByValue,
            };
            return labels;
        }

        V1ObjectMeta Meta(string objectName) => new()
        {
            Name = objectName,
            NamespaceProperty = ns,
            Labels = ObjectLabels(),
            Annotations = settings.Annotations.Count == 0 ? null : new Dictionary<string, string>(settings.Annotations, StringComparer.Ordinal),
            OwnerReferences = [owner],
        };

        var serviceAccount = new V1ServiceAccount { ApiVersion = "v1", Kind = "ServiceAccount", Metadata = Meta(name) };

        var bootstrapJson = EnvoyBootstrap.Render(name, ns, options);
        var bootstrap = new V1ConfigMap
        {
            ApiVersion = "v1",
            Kind = "ConfigMap",
            Metadata = Meta(BootstrapConfigMapName(name)),
            Data = new Dictionary<string, string> { [EnvoyBootstrap.FileName] = bootstrapJson },
        };

        var podLabels = ObjectLabels();
        // As Istio labels its own waypoint pods: istiod finds instances by gateway name, telemetry by canonical name.
        podLabels[GatewayClassNameLabel] = gateway.Spec.GatewayClassName;
        podLabels["service.istio.io/canonical-name"] = name;
        podLabels["service.istio.io/canonical-revision"] = "latest";
        podLabels["istio.io/dataplane-mode"] = "none";
        podLabels["sidecar.istio.io/inject"] = "false";
        var podAnnotations = new Dictionary<string, string>(settings.Annotations, StringComparer.Ordinal)
        {
            ["prometheus.io/scrape"] = "true",
            // As Istio's proxies: the agent's port serves Envoy's stats merged with its own (certificates, request metrics).
            ["prometheus.io/port"] = AgentHealthPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["prometheus.io/path"] = Waypoint.Xds.Bootstrap.EnvoyBootstrapBuilder.PrometheusPath,
            // Pods roll when the bootstrap changes; Envoy reads it only at start.
            ["gateway.kgateway.dev/bootstrap-hash"] = Hash(bootstrapJson),
        };

        var deployment = new V1Deployment
        {
            ApiVersion = "apps/v1",
            Kind = "Deployment",
            Metadata = Meta(name),
            Spec = new V1DeploymentSpec
            {
                Replicas = settings.Replicas,
                Selector = new V1LabelSelector { MatchLabels = new Dictionary<string, string> { [GatewayNameLabel] = name } },
                Template = new V1PodTemplateSpec
                {
                    Metadata = new V1ObjectMeta { Labels = podLabels, Annotations = podAnnotations },
                    Spec = PodSpec(gateway, settings, options),
                },
            },
        };

        var service = new V1Service
        {
            ApiVersion = "v1",
            Kind = "Service",
            Metadata = Meta(name),
            Spec = new V1ServiceSpec
            {
                Type = "ClusterIP",
                Selector = new Dictionary<string, string> { [GatewayNameLabel] = name },
                IpFamilyPolicy = "PreferDualStack",
                Ports =
                [
                    new V1ServicePort { Name = MeshPortName, Port = MeshPort, TargetPort = MeshPort, Protocol = "TCP" },
                    new V1ServicePort { Name = "status-port", Port = EnvoyBootstrap.HealthPort, TargetPort = EnvoyBootstrap.HealthPort, Protocol = "TCP" },
                ],
            },
        };

        var objects = new WaypointObjects(serviceAccount, bootstrap, deployment, service);
        foreach (var (_, obj) in objects.All())
        {
            // The hash of the desired object decides whether an existing one must be patched: no write when nothing changed.
            var hash = Hash(KubernetesJson.Serialize(obj));
            obj.Metadata.Annotations ??= new Dictionary<string, string>();
            obj.Metadata.Annotations[ConfigHashAnnotation] = hash;
        }

        return objects;
    }

    private static V1PodSpec PodSpec(V1Gateway gateway, WaypointSettings settings, WaypointControllerOptions options)
    {
        var name = gateway.Metadata.Name;
        var ns = gateway.Metadata.NamespaceProperty;
        var containerSecurity = new V1SecurityContext
        {
            AllowPrivilegeEscalation = false,
            ReadOnlyRootFilesystem = true,
            RunAsNonRoot = true,
            Privileged = false,
            Capabilities = new V1Capabilities { Drop = ["ALL"] },
        };
        var podEnv = new List<V1EnvVar>
        {
            new() { Name = "POD_NAME", ValueFrom = new V1EnvVarSource { FieldRef = new V1ObjectFieldSelector { FieldPath = "metadata.name" } } },
            new() { Name = "POD_NAMESPACE", ValueFrom = new V1EnvVarSource { FieldRef = new V1ObjectFieldSelector { FieldPath = "metadata.namespace" } } },
        };

        return new V1PodSpec
        {
            ServiceAccountName = name,
            TerminationGracePeriodSeconds = TerminationGracePeriodSeconds,
            SecurityContext = new V1PodSecurityContext
            {
                RunAsNonRoot = true,
                RunAsUser = 101,
                RunAsGroup = 101,
                FsGroup = 101,
                SeccompProfile = new V1SeccompProfile { Type = "RuntimeDefault" },
            },
            Containers =
            [
                new V1Container
                {
                    Name = "envoy",
                    Image = settings.EnvoyImage,
                    ImagePullPolicy = options.ImagePullPolicy,
                    Args =
                    [
                        "-c", $"{BootstrapDirectory}/{EnvoyBootstrap.FileName}",
                        "--disable-hot-restart",
                        "--service-cluster", EnvoyBootstrap.NodeCluster(name, ns),
                        "--service-node", "$(POD_NAME).$(POD_NAMESPACE)",
                        "--log-level", settings.EnvoyLogLevel,
                        "--drain-time-s", DrainSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
                        "--drain-strategy", "immediate",
                    ],
                    Env = podEnv,
                    Ports =
                    [
                        new V1ContainerPort { Name = MeshPortName, ContainerPort = MeshPort, Protocol = "TCP" },
                        new V1ContainerPort { Name = "status-port", ContainerPort = EnvoyBootstrap.HealthPort, Protocol = "TCP" },
                        new V1ContainerPort { Name = "http-envoy-prom", ContainerPort = StatsPort, Protocol = "TCP" },
                    ],

                    // Envoy's own listener answers once its initial xDS fetch is over, with or without config: it
                    // says "started". Whether the pod may take traffic is the agent's readiness (Envoy's listeners).
                    StartupProbe = new V1Probe
                    {
                        HttpGet = new V1HTTPGetAction { Path = "/healthz/ready", Port = EnvoyBootstrap.HealthPort },
                        PeriodSeconds = 1,
                        FailureThreshold = 120,
                        TimeoutSeconds = 3,
                    },
                    ReadinessProbe = new V1Probe
                    {
                        HttpGet = new V1HTTPGetAction { Path = "/healthz/ready", Port = EnvoyBootstrap.HealthPort },
                        PeriodSeconds = 5,
                        FailureThreshold = 4,
                        TimeoutSeconds = 3,
                    },
                    Lifecycle = DrainOnStop(),
                    Resources = settings.EnvoyResources,
                    SecurityContext = containerSecurity,
                    VolumeMounts =
                    [
                        new V1VolumeMount { Name = "bootstrap", MountPath = BootstrapDirectory, ReadOnlyProperty = true },
                        new V1VolumeMount { Name = "workload-socket", MountPath = EnvoyBootstrap.SdsSocketDirectory },
                        new V1VolumeMount { Name = "transformation-socket", MountPath = TransformationSocketDirectory },
                        new V1VolumeMount { Name = "tmp", MountPath = "/tmp" },
                    ],
                },
                new V1Container
                {
                    Name = "agent",
                    Image = settings.AgentImage,
                    ImagePullPolicy = options.ImagePullPolicy,
                    // The agent's defaults are this pod's paths (token, root cert, SDS socket); identity and CA come from the environment.
                    Args = ["agent"],
                    Env =
                    [
                        .. podEnv,
                        new V1EnvVar { Name = "SERVICE_ACCOUNT", ValueFrom = new V1EnvVarSource { FieldRef = new V1ObjectFieldSelector { FieldPath = "spec.serviceAccountName" } } },
                        new V1EnvVar { Name = "TRUST_DOMAIN", Value = options.TrustDomain },
                        new V1EnvVar { Name = "CA_ADDR", Value = options.IstioCaAddress },
                        new V1EnvVar { Name = "AGENT_HEALTH_PORT", Value = AgentHealthPort.ToString(System.Globalization.CultureInfo.InvariantCulture) },
                        new V1EnvVar { Name = "ENVOY_ADMIN_ADDRESS", Value = EnvoyAdminAddress },
                        new V1EnvVar { Name = "DRAIN_DURATION", Value = DrainSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture) + "s" },
                    ],
                    Ports = [new V1ContainerPort { Name = "agent-health", ContainerPort = AgentHealthPort, Protocol = "TCP" }],
                    StartupProbe = new V1Probe
                    {
                        HttpGet = new V1HTTPGetAction { Path = "/healthz/live", Port = AgentHealthPort },
                        PeriodSeconds = 1,
                        FailureThreshold = 60,
                        TimeoutSeconds = 3,
                    },

                    // Ready = certificate served over SDS and Envoy LIVE with connect_terminate from the control plane;
                    // an Envoy that only timed out its initial fetch is not. Its startup probe (live) passes long
                    // before that, so this one decides when the pod is Ready: asked every second (the agent answers
                    // from memory and one Envoy admin call), 6 failures (6 s, as before) take the pod out.
                    ReadinessProbe = new V1Probe
                    {
                        HttpGet = new V1HTTPGetAction { Path = "/healthz/ready", Port = AgentHealthPort },
                        PeriodSeconds = 1,
                        FailureThreshold = 6,
                        TimeoutSeconds = 3,
                    },

                    // The agent must outlive Envoy's drain (it serves Envoy's certificates), so it waits for it too.
                    Lifecycle = DrainOnStop(),
                    Resources = settings.AgentResources,
                    SecurityContext = containerSecurity,
                    VolumeMounts =
                    [
                        new V1VolumeMount { Name = "istio-token", MountPath = TokenDirectory, ReadOnlyProperty = true },
                        new V1VolumeMount { Name = "istio-ca-root-cert", MountPath = RootCertDirectory, ReadOnlyProperty = true },
                        new V1VolumeMount { Name = "workload-socket", MountPath = EnvoyBootstrap.SdsSocketDirectory },
                        new V1VolumeMount { Name = "transformation-socket", MountPath = TransformationSocketDirectory },
                    ],
                },
            ],
            Volumes =
            [
                new V1Volume { Name = "bootstrap", ConfigMap = new V1ConfigMapVolumeSource { Name = BootstrapConfigMapName(name) } },
                // Pod-private: only this pod's Envoy and agent share the SDS socket.
                new V1Volume { Name = "workload-socket", EmptyDir = new V1EmptyDirVolumeSource() },
                new V1Volume { Name = "transformation-socket", EmptyDir = new V1EmptyDirVolumeSource() },
                new V1Volume { Name = "tmp", EmptyDir = new V1EmptyDirVolumeSource() },
                new V1Volume
                {
                    Name = "istio-token",
                    Projected = new V1ProjectedVolumeSource
                    {
                        Sources =
                        [
                            new V1VolumeProjection
                            {
                                ServiceAccountToken = new V1ServiceAccountTokenProjection { Audience = "istio-ca", ExpirationSeconds = 43200, Path = "istio-token" },
                            },
                        ],
                    },
                },
                new V1Volume { Name = "istio-ca-root-cert", ConfigMap = new V1ConfigMapVolumeSource { Name = "istio-ca-root-cert" } },
            ],
        };
    }

    /// <summary>
    /// preStop of both containers: the agent starts Envoy's graceful listener drain and answers when the drain period
    /// is over; only then does the kubelet send SIGTERM. The hooks run within terminationGracePeriodSeconds.
    /// </summary>
    private static V1Lifecycle DrainOnStop() => new()
    {
        PreStop = new V1LifecycleHandler { HttpGet = new V1HTTPGetAction { Path = "/drain", Port = AgentHealthPort } },
    };

    private static V1ResourceRequirements Resources(string cpu, string memory, string? cpuLimit, string? memoryLimit)
    {
        var limits = new Dictionary<string, ResourceQuantity>();
        if (cpuLimit is not null)
        {
            limits["cpu"] = new ResourceQuantity(cpuLimit);
        }

        if (memoryLimit is not null)
        {
            limits["memory"] = new ResourceQuantity(memoryLimit);
        }

        return new V1ResourceRequirements
        {
            Requests = new Dictionary<string, ResourceQuantity> { ["cpu"] = new(cpu), ["memory"] = new(memory) },
            Limits = limits.Count == 0 ? null : limits,
        };
    }

    private static void Merge(SortedDictionary<string, string> target, IDictionary<string, string>? source)
    {
        if (source is null)
        {
            return;
        }

        foreach (var (key, value) in source)
        {
            target[key] = value;
        }
    }

    internal static string Hash(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..16];
}
