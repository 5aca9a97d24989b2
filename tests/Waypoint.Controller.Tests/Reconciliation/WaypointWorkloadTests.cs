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

    private static WaypointObjects Build()
    {
        var gateway = Gateway();
        return WaypointWorkload.Build(gateway, WaypointWorkload.Resolve(Options, gateway), Options);
    }
}
