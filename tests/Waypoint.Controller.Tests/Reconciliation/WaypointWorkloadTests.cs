using System.Diagnostics;
using System.Text.Json.Nodes;
using k8s;
using Waypoint.Controller.Reconciliation;
using Waypoint.TestKit.Envoy;
using Waypoint.Translator.Model;

namespace Waypoint.Controller.Tests.Reconciliation;

public sealed class WaypointWorkloadTests
{
    private static readonly WaypointControllerOptions Options = new() { Namespace = "waypoint-system" };

    [Fact]
    public void Bootstrap_Keeps_The_Contract_With_The_Xds_Server_And_The_Agent()
    {
        var objects = Build();
        var bootstrap = JsonNode.Parse(objects.Bootstrap.Data[EnvoyBootstrap.FileName])!;
        Assert.Equal("waypoint.apps", bootstrap["node"]!["cluster"]!.GetValue<string>());
        var clusters = bootstrap["staticResources"]?["clusters"]?.AsArray() ?? bootstrap["static_resources"]!["clusters"]!.AsArray();
        var json = bootstrap.ToJsonString();
        Assert.Contains("waypoint-xds.waypoint-system.svc", json, StringComparison.Ordinal);
        Assert.Contains("15012", json, StringComparison.Ordinal);
        // xDS is mutual TLS pinned on the controller's own SPIFFE identity.
        var xds = clusters.Single(c => c!["name"]!.GetValue<string>() == "xds-grpc")!;
        var tls = (xds["transportSocket"] ?? xds["transport_socket"])!.ToJsonString();
        Assert.Contains("spiffe://cluster.local/ns/waypoint-system/sa/waypoint-controller", tls, StringComparison.Ordinal);
        Assert.Contains("ROOTCA", tls, StringComparison.Ordinal);
        Assert.Contains("/var/run/secrets/workload-spiffe-uds/socket", json, StringComparison.Ordinal);
        Assert.Contains(clusters, c => c!["name"]!.GetValue<string>() == "sds-grpc");
        Assert.Contains(clusters, c => c!["name"]!.GetValue<string>() == "xds-grpc");
    }

    [Fact]
    public async Task Bootstrap_Is_Accepted_By_Real_Envoy()
    {
        var envoy = EnvoyBinary.Locate();
        var directory = Directory.CreateTempSubdirectory("waypoint-bootstrap-");
        try
        {
            var path = Path.Combine(directory.FullName, EnvoyBootstrap.FileName);
            await File.WriteAllTextAsync(path, Build().Bootstrap.Data[EnvoyBootstrap.FileName]);
            using var process = Process.Start(new ProcessStartInfo(envoy)
            {
                ArgumentList = { "--mode", "validate", "-c", path, "--disable-hot-restart", "--service-node", "waypoint-abc.apps", "--service-cluster", "waypoint.apps" },
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                WorkingDirectory = directory.FullName,
            })!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
            Assert.True(process.ExitCode == 0, await stdout + await stderr);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public void Deployment_Pod_Is_Out_Of_Capture_NonRoot_And_Mounts_What_The_Agent_Reads()
    {
        var deployment = Build().Deployment;
        var pod = deployment.Spec.Template;
        Assert.Equal("none", pod.Metadata.Labels["istio.io/dataplane-mode"]);
        Assert.Equal("false", pod.Metadata.Labels["sidecar.istio.io/inject"]);
        Assert.Equal("waypoint", deployment.Spec.Selector.MatchLabels[WaypointWorkload.GatewayNameLabel]);
        Assert.True(pod.Spec.SecurityContext.RunAsNonRoot);
        var envoy = pod.Spec.Containers.Single(c => c.Name == "envoy");
        var agent = pod.Spec.Containers.Single(c => c.Name == "agent");
        Assert.Equal("/healthz/ready", envoy.ReadinessProbe.HttpGet.Path);
        Assert.Contains("--disable-hot-restart", envoy.Args);
        Assert.NotNull(envoy.Resources.Requests["cpu"]);
        Assert.Equal("/var/run/secrets/workload-spiffe-uds", envoy.VolumeMounts.Single(m => m.Name == "workload-socket").MountPath);
        Assert.Equal("/var/run/secrets/workload-spiffe-uds", agent.VolumeMounts.Single(m => m.Name == "workload-socket").MountPath);
        Assert.Equal("/var/run/secrets/tokens", agent.VolumeMounts.Single(m => m.Name == "istio-token").MountPath);
        Assert.Equal("/var/run/secrets/istio", agent.VolumeMounts.Single(m => m.Name == "istio-ca-root-cert").MountPath);
        Assert.NotNull(pod.Spec.Volumes.Single(v => v.Name == "workload-socket").EmptyDir);
        Assert.All(pod.Spec.Containers, c => Assert.False(c.SecurityContext.AllowPrivilegeEscalation));
    }

    [Fact]
    public void Config_Hash_Changes_Only_When_The_Desired_Object_Changes()
    {
        string Hash(WaypointObjects o) => o.Deployment.Metadata.Annotations[WaypointWorkload.ConfigHashAnnotation];
        Assert.Equal(Hash(Build()), Hash(Build()));
        var gateway = Gateway();
        var bigger = WaypointWorkload.Build(gateway, WaypointWorkload.Resolve(Options, gateway, new V1alpha1WaypointParameters { Spec = new WaypointParametersSpec { Replicas = 5 } }), Options);
        Assert.NotEqual(Hash(Build()), Hash(bigger));
        Assert.Equal(5, bigger.Deployment.Spec.Replicas);
    }

    [Fact]
    public void Gateway_Parameters_Win_Over_Class_Parameters()
    {
        var gateway = Gateway();
        var settings = WaypointWorkload.Resolve(Options, gateway,
            new V1alpha1WaypointParameters { Spec = new WaypointParametersSpec { Replicas = 2, Labels = new Dictionary<string, string> { ["a"] = "class", ["b"] = "class" } } },
            new V1alpha1WaypointParameters { Spec = new WaypointParametersSpec { Labels = new Dictionary<string, string> { ["a"] = "gateway" }, Agent = new WaypointContainerParameters { Image = "agent:2" } } });
        Assert.Equal(2, settings.Replicas);
        Assert.Equal("gateway", settings.Labels["a"]);
        Assert.Equal("class", settings.Labels["b"]);
        Assert.Equal("agent:2", settings.AgentImage);
        Assert.Equal(Options.EnvoyImage, settings.EnvoyImage);
    }

    private static V1Gateway Gateway() => new()
    {
        Metadata = new k8s.Models.V1ObjectMeta { Name = "waypoint", NamespaceProperty = "apps", Uid = "uid-1" },
        Spec = new V1GatewaySpec { GatewayClassName = "kgateway-waypoint", Listeners = [new GatewayListener { Name = "mesh", Port = 15008, Protocol = "HBONE" }] },
    };

    [Fact]
    public void Pods_Are_Labelled_As_Istio_Labels_Its_Waypoints_And_Owner_References_Do_Not_Block_Deletion()
    {
        var objects = Build();
        var labels = objects.Deployment.Spec.Template.Metadata.Labels;
        Assert.Equal("waypoint", labels["gateway.networking.k8s.io/gateway-name"]);
        Assert.Equal("kgateway-waypoint", labels["gateway.networking.k8s.io/gateway-class-name"]);
        Assert.Equal("waypoint", labels["service.istio.io/canonical-name"]);
        Assert.Equal("latest", labels["service.istio.io/canonical-revision"]);
        Assert.Equal("none", labels["istio.io/dataplane-mode"]);

        // blockOwnerDeletion needs update on gateways/finalizers, which the ClusterRole does not grant.
        foreach (var (_, obj) in objects.All())
        {
            var owner = Assert.Single(obj.Metadata.OwnerReferences);
            Assert.True(owner.Controller);
            Assert.Null(owner.BlockOwnerDeletion);
        }
    }

    [Fact]
    public void Pods_Start_Become_Ready_And_Drain_Coherently()
    {
        var pod = Build().Deployment.Spec.Template.Spec;
        var envoy = pod.Containers.Single(c => c.Name == "envoy");
        var agent = pod.Containers.Single(c => c.Name == "agent");

        // Readiness waits for Envoy's listeners (the agent checks connect_terminate in Envoy's admin API), not for
        // Envoy's own listener, which answers after an initial fetch timeout too.
        Assert.Equal(WaypointWorkload.AgentHealthPort, agent.ReadinessProbe.HttpGet.Port.Value is { } p ? int.Parse(p, System.Globalization.CultureInfo.InvariantCulture) : 0);
        Assert.Equal("/healthz/ready", agent.ReadinessProbe.HttpGet.Path);
        Assert.Equal(WaypointWorkload.EnvoyAdminAddress, agent.Env.Single(e => e.Name == "ENVOY_ADMIN_ADDRESS").Value);
        Assert.NotNull(envoy.StartupProbe);
        Assert.NotNull(agent.StartupProbe);

        // The agent's readiness decides when the pod is Ready (its startup probe, live, passes long before): asked every
        // second, so the pod is Ready within a second of being ready, and out after 6 s of failures, as with 2 s x 3.
        // Envoy's readiness follows its startup probe on the same path (the kubelet probes readiness once started).
        Assert.Equal(1, agent.ReadinessProbe.PeriodSeconds);
        Assert.Equal(6, agent.ReadinessProbe.PeriodSeconds * agent.ReadinessProbe.FailureThreshold);
        Assert.Equal(1, agent.StartupProbe.PeriodSeconds);
        Assert.Equal(envoy.ReadinessProbe.HttpGet.Path, envoy.StartupProbe.HttpGet.Path);
        Assert.Equal(1, envoy.StartupProbe.PeriodSeconds);

        // Drain: Envoy drains for --drain-time-s; both preStop hooks wait that long; the grace period covers it.
        var args = envoy.Args.ToList();
        var drainSeconds = int.Parse(args[args.IndexOf("--drain-time-s") + 1], System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal("immediate", args[args.IndexOf("--drain-strategy") + 1]);
        Assert.Equal($"{drainSeconds}s", agent.Env.Single(e => e.Name == "DRAIN_DURATION").Value);
        foreach (var container in new[] { envoy, agent })
        {
            Assert.Equal("/drain", container.Lifecycle.PreStop.HttpGet.Path);
            Assert.Equal(WaypointWorkload.AgentHealthPort.ToString(System.Globalization.CultureInfo.InvariantCulture), container.Lifecycle.PreStop.HttpGet.Port.Value);
        }

        Assert.True(pod.TerminationGracePeriodSeconds > drainSeconds + 5, "room for Envoy to exit after the drain");

        // Stats for Prometheus on 15090, as Istio's proxies; the admin API stays on loopback.
        Assert.Contains(envoy.Ports, port => port.ContainerPort == 15090);
        var bootstrap = JsonNode.Parse(Build().Bootstrap.Data[EnvoyBootstrap.FileName])!;
        Assert.Equal("127.0.0.1", bootstrap["admin"]!["address"]!["socket_address"]!["address"]!.GetValue<string>());
        Assert.Contains(bootstrap["static_resources"]!["listeners"]!.AsArray(), l => l!["address"]!["socket_address"]!["port_value"]!.GetValue<int>() == 15090);
    }

    private static WaypointObjects Build()
    {
        var gateway = Gateway();
        return WaypointWorkload.Build(gateway, WaypointWorkload.Resolve(Options, gateway), Options);
    }
}
