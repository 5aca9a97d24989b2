using System.Runtime.Versioning;
using System.Text.Json;
using System.Text.Json.Nodes;
using Waypoint.Controller.Client;
using Waypoint.TestKit.Box;
using Waypoint.TestKit.Envoy;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.Serialization;

namespace Waypoint.Controller.Tests.Install;

/// <summary>The install manifests and Helm chart must parse and agree with what the controller does.</summary>
[SupportedOSPlatform("linux")]
public sealed class ManifestTests
{
    private static readonly string Root = EnvoyBinary.FindRepositoryRoot() ?? throw new InvalidOperationException("repository root not found");
    private static readonly string Manifests = Path.Combine(Root, "manifests");
    private static readonly string Chart = Path.Combine(Manifests, "charts", "waypoint");
    private static readonly WaypointControllerOptions Defaults = new();

    /// <summary>Every kind the controller lists and watches.</summary>
    public static TheoryData<string, string> WatchedKinds() => new()
    {
        { "gateway.networking.k8s.io", "gatewayclasses" }, { "gateway.networking.k8s.io", "gateways" },
        { "gateway.networking.k8s.io", "httproutes" }, { "gateway.networking.k8s.io", "referencegrants" },
        { "", "services" }, { "discovery.k8s.io", "endpointslices" }, { "", "namespaces" }, { "", "pods" },
        { "networking.istio.io", "serviceentries" }, { "gateway.kgateway.dev", "trafficpolicies" }, { "gateway.kgateway.dev", "waypointparameters" },
        { "", "serviceaccounts" }, { "", "configmaps" }, { "apps", "deployments" },
    };

    [Fact]
    public void Every_Manifest_Parses_Into_Named_Objects()
    {
        var files = Directory.GetFiles(Manifests, "*.yaml", SearchOption.AllDirectories).Where(f => !f.Contains("templates", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(files);
        foreach (var file in files.Where(f => !f.EndsWith("Chart.yaml", StringComparison.Ordinal) && !f.EndsWith("values.yaml", StringComparison.Ordinal)))
        {
            foreach (var doc in Load(File.ReadAllText(file)))
            {
                Assert.False(string.IsNullOrEmpty(doc["apiVersion"]?.GetValue<string>()), file);
                Assert.False(string.IsNullOrEmpty(doc["kind"]?.GetValue<string>()), file);
                Assert.False(string.IsNullOrEmpty(doc["metadata"]?["name"]?.GetValue<string>()), file);
            }
        }
    }

    [Theory]
    [MemberData(nameof(WatchedKinds))]
    public void ClusterRole_Allows_Listing_And_Watching_Each_Informer_Kind(string group, string plural)
    {
        Assert.True(Allowed(group, plural, "list") && Allowed(group, plural, "watch"), $"{plural}.{group}");
    }

    [Fact]
    public void ClusterRole_Allows_The_Writes_The_Controller_Makes_And_No_Deletes()
    {
        // Owned objects are server-side applied (patch), created when absent, and watched (drift repair).
        foreach (var kind in new[] { ResourceKind.ServiceAccounts, ResourceKind.ConfigMaps, ResourceKind.Deployments, ResourceKind.Services })
        {
            foreach (var verb in new[] { "get", "list", "watch", "create", "patch" })
            {
                Assert.True(Allowed(kind.Group, kind.Plural, verb), $"{verb} {kind}");
            }
        }

        foreach (var kind in new[] { ResourceKind.GatewayClasses, ResourceKind.Gateways, ResourceKind.HttpRoutes, ResourceKind.TrafficPolicies })
        {
            Assert.True(Allowed(kind.Group, kind.Plural + "/status", "update") && Allowed(kind.Group, kind.Plural + "/status", "patch"), kind.ToString());
            Assert.False(Allowed(kind.Group, kind.Plural, "update") || Allowed(kind.Group, kind.Plural, "patch"), $"{kind} spec must stay read-only");
        }

        foreach (var group in new[] { "", "events.k8s.io" })
        {
            Assert.True(Allowed(group, "events", "create") && Allowed(group, "events", "patch"), $"events.{group}");
        }

        Assert.True(Allowed("authentication.k8s.io", "tokenreviews", "create"), "TokenReview for xDS authentication");
        Assert.True(Allowed("authorization.k8s.io", "subjectaccessreviews", "create"), "SubjectAccessReview for the debug API (waypoint status)");
        Assert.DoesNotContain(Rules("ClusterRole"), r => r["verbs"]!.AsArray().Any(v => v!.GetValue<string>() is "delete" or "deletecollection" or "*"));
        Assert.DoesNotContain(Rules("ClusterRole"), r => r["resources"]!.AsArray().Any(x => x!.GetValue<string>() is "*" or "secrets" or "gateways/finalizers"));
        Assert.DoesNotContain(Rules("ClusterRole"), r => r["apiGroups"]!.AsArray().Any(g => g!.GetValue<string>() == "*"));
        var role = Rules("Role");
        Assert.Contains(role, r => r["resources"]!.AsArray().Any(x => x!.GetValue<string>() == "leases")
            && new[] { "get", "create", "update" }.All(v => r["verbs"]!.AsArray().Any(x => x!.GetValue<string>() == v)));
    }

    /// <summary>The ClusterRole grants exactly what the controller uses: every rule's (group, resource, verb) is in this list.</summary>
    [Fact]
    public void ClusterRole_Grants_Nothing_Beyond_What_The_Controller_Needs()
    {
        string[] read = ["get", "list", "watch"];
        string[] apply = ["get", "list", "watch", "create", "patch"];
        string[] status = ["get", "update", "patch"];
        var needed = new Dictionary<(string Group, string Resource), string[]>
        {
            [("gateway.networking.k8s.io", "gatewayclasses")] = read,
            [("gateway.networking.k8s.io", "gateways")] = read,
            [("gateway.networking.k8s.io", "httproutes")] = read,
            [("gateway.networking.k8s.io", "referencegrants")] = read,
            [("gateway.networking.k8s.io", "gatewayclasses/status")] = status,
            [("gateway.networking.k8s.io", "gateways/status")] = status,
            [("gateway.networking.k8s.io", "httproutes/status")] = status,
            [("", "namespaces")] = read,
            [("", "pods")] = read,
            [("", "services")] = apply,
            [("", "serviceaccounts")] = apply,
            [("", "configmaps")] = apply,
            [("apps", "deployments")] = apply,
            [("discovery.k8s.io", "endpointslices")] = read,
            [("networking.istio.io", "serviceentries")] = read,
            [("gateway.kgateway.dev", "trafficpolicies")] = read,
            [("gateway.kgateway.dev", "waypointparameters")] = read,
            [("gateway.kgateway.dev", "trafficpolicies/status")] = status,
            [("security.istio.io", "authorizationpolicies")] = read,
            [("security.istio.io", "authorizationpolicies/status")] = status,
            [("security.istio.io", "requestauthentications")] = read,
            [("security.istio.io", "requestauthentications/status")] = status,
            [("", "events")] = ["create", "patch"],
            [("events.k8s.io", "events")] = ["create", "patch"],
            [("authentication.k8s.io", "tokenreviews")] = ["create"],
            [("authorization.k8s.io", "subjectaccessreviews")] = ["create"],
        };
        foreach (var rule in Rules("ClusterRole"))
        {
            foreach (var group in rule["apiGroups"]!.AsArray().Select(g => g!.GetValue<string>()))
            {
                foreach (var resource in rule["resources"]!.AsArray().Select(r => r!.GetValue<string>()))
                {
                    Assert.True(needed.TryGetValue((group, resource), out var verbs), $"{resource}.{group} is granted but not used");
                    foreach (var verb in rule["verbs"]!.AsArray().Select(v => v!.GetValue<string>()))
                    {
                        Assert.True(verbs.Contains(verb), $"{verb} on {resource}.{group} is granted but not used");
                    }
                }
            }
        }
    }

    [Fact]
    public void Crds_Serve_The_Resources_The_Controller_Reads()
    {
        var crds = Directory.GetFiles(Path.Combine(Manifests, "crds")).SelectMany(f => Load(File.ReadAllText(f))).ToList();
        foreach (var kind in new[] { ResourceKind.TrafficPolicies, ResourceKind.WaypointParameters })
        {
            var crd = Assert.Single(crds, c => c["spec"]!["names"]!["plural"]!.GetValue<string>() == kind.Plural);
            Assert.Equal(kind.Group, crd["spec"]!["group"]!.GetValue<string>());
            Assert.Equal(kind.Kind, crd["spec"]!["names"]!["kind"]!.GetValue<string>());
            Assert.Equal($"{kind.Plural}.{kind.Group}", crd["metadata"]!["name"]!.GetValue<string>());
            Assert.Contains(crd["spec"]!["versions"]!.AsArray(), v => v!["name"]!.GetValue<string>() == kind.Version && v["served"]!.GetValue<string>() == "true");
        }
    }

    [Fact]
    public void GatewayClass_And_Xds_Service_Match_The_Controller_Defaults()
    {
        var install = InstallObjects();
        var gatewayClass = install.Single(o => o["kind"]!.GetValue<string>() == "GatewayClass");
        Assert.Equal(Defaults.GatewayClassName, gatewayClass["metadata"]!["name"]!.GetValue<string>());
        Assert.Equal(Defaults.ControllerName, gatewayClass["spec"]!["controllerName"]!.GetValue<string>());

        var xds = install.Single(o => o["kind"]!.GetValue<string>() == "Service" && o["metadata"]!["name"]!.GetValue<string>() == "waypoint-xds");
        Assert.Equal($"waypoint-xds.{xds["metadata"]!["namespace"]!.GetValue<string>()}.svc", Defaults.EffectiveXdsHost);
        Assert.Equal(Defaults.XdsPort.ToString(System.Globalization.CultureInfo.InvariantCulture), xds["spec"]!["ports"]![0]!["port"]!.GetValue<string>());

        var deployment = install.Single(o => o["kind"]!.GetValue<string>() == "Deployment");
        var env = deployment["spec"]!["template"]!["spec"]!["containers"]![0]!["env"]!.AsArray();
        Assert.Contains(env, e => e!["name"]!.GetValue<string>() == "POD_NAMESPACE");
        Assert.Equal(Defaults.ControllerName, env.Single(e => e!["name"]!.GetValue<string>() == "Waypoint__Controller__ControllerName")!["value"]!.GetValue<string>());
        Assert.Equal("waypoint-controller", deployment["spec"]!["template"]!["spec"]!["serviceAccountName"]!.GetValue<string>());
        Assert.Equal("true", deployment["spec"]!["template"]!["spec"]!["securityContext"]!["runAsNonRoot"]!.GetValue<string>());

        // Secured xDS: the controller's own identity (SERVICE_ACCOUNT), its istio-ca token and the mesh root, where the agent reads them.
        Assert.Equal("spec.serviceAccountName", env.Single(e => e!["name"]!.GetValue<string>() == "SERVICE_ACCOUNT")!["valueFrom"]!["fieldRef"]!["fieldPath"]!.GetValue<string>());
        Assert.Equal(15012, Defaults.XdsPort);
        Assert.False(Defaults.XdsPlaintext);
        var podSpec = deployment["spec"]!["template"]!["spec"]!;
        var mounts = podSpec["containers"]![0]!["volumeMounts"]!.AsArray();
        var volumes = podSpec["volumes"]!.AsArray();
        var tokenMount = mounts.Single(m => m!["mountPath"]!.GetValue<string>() == Path.GetDirectoryName(Waypoint.Agent.AgentOptions.DefaultTokenPath))!;
        var token = volumes.Single(v => v!["name"]!.GetValue<string>() == tokenMount["name"]!.GetValue<string>())!["projected"]!["sources"]![0]!["serviceAccountToken"]!;
        Assert.Equal("istio-ca", token["audience"]!.GetValue<string>());
        Assert.Equal(Path.GetFileName(Waypoint.Agent.AgentOptions.DefaultTokenPath), token["path"]!.GetValue<string>());
        var rootMount = mounts.Single(m => m!["mountPath"]!.GetValue<string>() == Path.GetDirectoryName(Waypoint.Agent.AgentOptions.DefaultRootCertPath))!;
        Assert.Equal("istio-ca-root-cert", volumes.Single(v => v!["name"]!.GetValue<string>() == rootMount["name"]!.GetValue<string>())!["configMap"]!["name"]!.GetValue<string>());
    }

    [Fact]
    public void Controller_Readiness_Is_Asked_Every_Second_From_The_Start_And_Tolerates_Six_Seconds_Of_Failures()
    {
        var deployment = InstallObjects().Single(o => o["kind"]!.GetValue<string>() == "Deployment");
        var probe = deployment["spec"]!["template"]!["spec"]!["containers"]![0]!["readinessProbe"]!;
        Assert.Equal("/healthz/ready", probe["httpGet"]!["path"]!.GetValue<string>());
        Assert.Equal("0", probe["initialDelaySeconds"]!.GetValue<string>());
        Assert.Equal("1", probe["periodSeconds"]!.GetValue<string>());
        Assert.Equal("6", probe["failureThreshold"]!.GetValue<string>());
    }

    [Fact]
    public async Task Helm_Lint_Passes_Strictly()
    {
        var lint = await BoxTools.HelmAsync(null, "lint", "--strict", Chart);
        Assert.True(lint.Succeeded, lint.ToString());
        Assert.Contains("1 chart(s) linted, 0 chart(s) failed", lint.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rendered_Chart_With_Default_Values_Equals_The_Install_Manifests()
    {
        var rendered = (await HelmTemplateAsync()).ToDictionary(Key);
        var install = InstallObjects().Where(o => o["kind"]!.GetValue<string>() != "Namespace").ToDictionary(Key);
        Assert.Equal(install.Keys.Order(), rendered.Keys.Order());
        foreach (var (key, expected) in install)
        {
            Assert.True(JsonNode.DeepEquals(expected, rendered[key]), $"{key}:\nexpected {expected.ToJsonString()}\nrendered {rendered[key].ToJsonString()}");
        }

        foreach (var crd in Directory.GetFiles(Path.Combine(Manifests, "crds")))
        {
            Assert.Equal(File.ReadAllText(crd), File.ReadAllText(Path.Combine(Chart, "crds", Path.GetFileName(crd))));
        }

        // --include-crds renders exactly the CRDs of manifests/crds.
        var crds = (await HelmTemplateAsync("--include-crds")).Where(o => o["kind"]!.GetValue<string>() == "CustomResourceDefinition").Select(Key).Order();
        Assert.Equal(Directory.GetFiles(Path.Combine(Manifests, "crds")).SelectMany(f => Load(File.ReadAllText(f))).Select(Key).Order(), crds);
    }

    [Fact]
    public async Task Rendered_Chart_Follows_Non_Default_Values()
    {
        var objects = await HelmTemplateAsync(
            "--namespace", "mesh-control",
            "--set", "replicaCount=3,image.repository=registry.example/waypoint,image.tag=v9.9.9,image.pullPolicy=Always",
            "--set", "gatewayClass.name=corp-waypoint,gatewayClass.waypointFor=all,controllerName=corp.example/waypoint",
            "--set", "xds.port=15999,waypoint.envoyImage=envoyproxy/envoy:v9,mesh.trustDomain=corp.example",
            "--set", "nodeSelector.pool=mesh,podAnnotations.team=net");

        var deployment = objects.Single(o => o["kind"]!.GetValue<string>() == "Deployment");
        Assert.Equal("mesh-control", deployment["metadata"]!["namespace"]!.GetValue<string>());
        Assert.Equal("3", deployment["spec"]!["replicas"]!.GetValue<string>());
        var pod = deployment["spec"]!["template"]!;
        Assert.Equal("net", pod["metadata"]!["annotations"]!["team"]!.GetValue<string>());
        Assert.Equal("mesh", pod["spec"]!["nodeSelector"]!["pool"]!.GetValue<string>());
        var container = pod["spec"]!["containers"]![0]!;
        Assert.Equal("registry.example/waypoint:v9.9.9", container["image"]!.GetValue<string>());
        Assert.Equal("Always", container["imagePullPolicy"]!.GetValue<string>());
        Assert.Equal("15999", container["ports"]![0]!["containerPort"]!.GetValue<string>());
        var env = container["env"]!.AsArray().Where(e => e!["value"] is not null).ToDictionary(e => e!["name"]!.GetValue<string>(), e => e!["value"]!.GetValue<string>());
        Assert.Equal("corp-waypoint", env["Waypoint__Controller__GatewayClassName"]);
        Assert.Equal("corp.example/waypoint", env["Waypoint__Controller__ControllerName"]);
        Assert.Equal("registry.example/waypoint:v9.9.9", env["Waypoint__Controller__AgentImage"]);
        Assert.Equal("envoyproxy/envoy:v9", env["Waypoint__Controller__EnvoyImage"]);
        Assert.Equal("15999", env["Waypoint__Controller__XdsPort"]);
        Assert.Equal("corp.example", env["Waypoint__Controller__TrustDomain"]);

        var xds = objects.Single(o => o["kind"]!.GetValue<string>() == "Service");
        Assert.Equal("15999", xds["spec"]!["ports"]![0]!["port"]!.GetValue<string>());
        Assert.Equal("mesh-control", xds["metadata"]!["namespace"]!.GetValue<string>());
        var gatewayClass = objects.Single(o => o["kind"]!.GetValue<string>() == "GatewayClass");
        Assert.Equal("corp-waypoint", gatewayClass["metadata"]!["name"]!.GetValue<string>());
        Assert.Equal("all", gatewayClass["metadata"]!["labels"]!["istio.io/waypoint-for"]!.GetValue<string>());
        Assert.Equal("corp.example/waypoint", gatewayClass["spec"]!["controllerName"]!.GetValue<string>());
        Assert.All(objects.Where(o => o["kind"]!.GetValue<string>() is "ClusterRoleBinding" or "RoleBinding"),
            binding => Assert.Equal("mesh-control", binding["subjects"]![0]!["namespace"]!.GetValue<string>()));
    }

    [Fact]
    public async Task Rendered_Chart_Without_The_GatewayClass_When_Told_Not_To_Create_It()
    {
        var objects = await HelmTemplateAsync("--set", "gatewayClass.create=false");
        Assert.DoesNotContain(objects, o => o["kind"]!.GetValue<string>() == "GatewayClass");
        Assert.Contains(objects, o => o["kind"]!.GetValue<string>() == "Deployment");
    }

    /// <summary><c>helm template</c> of the chart (release <c>waypoint</c>, namespace waypoint-system unless told otherwise).</summary>
    private static async Task<List<JsonObject>> HelmTemplateAsync(params string[] arguments)
    {
        var template = await BoxTools.HelmAsync(null, ["template", "waypoint", Chart, .. arguments.Contains("--namespace") ? arguments : ["--namespace", "waypoint-system", .. arguments]]);
        Assert.True(template.Succeeded, template.ToString());
        return Load(template.StandardOutput).ToList();
    }

    private static string Key(JsonObject o) => $"{o["kind"]}/{o["metadata"]!["namespace"]}/{o["metadata"]!["name"]}";

    private static List<JsonObject> InstallObjects() =>
        Directory.GetFiles(Path.Combine(Manifests, "install"), "*.yaml").SelectMany(f => Load(File.ReadAllText(f))).ToList();

    private static List<JsonObject> Rules(string kind) =>
        InstallObjects().Where(o => o["kind"]!.GetValue<string>() == kind).SelectMany(o => o["rules"]!.AsArray()).Select(r => r!.AsObject()).ToList();

    private static bool Allowed(string group, string resource, string verb) =>
        Rules("ClusterRole").Any(r => r["apiGroups"]!.AsArray().Any(g => g!.GetValue<string>() == group)
            && r["resources"]!.AsArray().Any(x => x!.GetValue<string>() == resource)
            && r["verbs"]!.AsArray().Any(v => v!.GetValue<string>() == verb));

    /// <summary>YAML documents as JSON (scalars as strings, as YamlDotNet reads them without a schema).</summary>
    private static IEnumerable<JsonObject> Load(string yaml)
    {
        var deserializer = new DeserializerBuilder().Build();
        var parser = new Parser(new StringReader(yaml));
        parser.Consume<StreamStart>();
        while (parser.Accept<DocumentStart>(out _))
        {
            var doc = deserializer.Deserialize<object>(parser);
            if (doc is null)
            {
                continue;
            }

            yield return JsonNode.Parse(JsonSerializer.Serialize(Normalize(doc)))!.AsObject();
        }
    }

    private static object? Normalize(object? node) => node switch
    {
        IDictionary<object, object> map => map.ToDictionary(p => Convert.ToString(p.Key, System.Globalization.CultureInfo.InvariantCulture)!, p => Normalize(p.Value)),
        IList<object> list => list.Select(Normalize).ToList(),
        _ => node is null ? null : Convert.ToString(node, System.Globalization.CultureInfo.InvariantCulture),
    };
}
