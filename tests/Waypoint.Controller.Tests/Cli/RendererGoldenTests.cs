using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using Waypoint.Cli;
using Waypoint.Cli.Rendering;
using Waypoint.Controller.Diagnostics;

namespace Waypoint.Controller.Tests.Cli;

/// <summary>
/// The text and YAML of <c>waypoint status</c>, <c>config</c> and <c>describe</c> for fixed documents, against the
/// golden files in <c>Golden/</c>. After a deliberate change, regenerate with <c>WAYPOINT_UPDATE_GOLDEN=1</c> and review the diff.
/// </summary>
public sealed class RendererGoldenTests
{
    private static readonly DateTimeOffset Now = DateTimeOffset.Parse("2026-12-02T12:00:00Z", System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public void Status_Table() => Golden.Match("status.txt", StatusRenderer.Render(Sample.Waypoints, Now));

    [Fact]
    public void Status_Yaml() => Golden.Match("status.yaml", StructuredOutput.Render(Sample.Waypoints, OutputFormat.Yaml));

    [Fact]
    public void Status_Without_Waypoints() => Assert.Equal("No waypoints.\n", StatusRenderer.Render(Sample.Waypoints with { Waypoints = [] }, Now));

    [Fact]
    public void Config_Summary() => Golden.Match("config.txt", ConfigRenderer.Render(Sample.Config, ConfigSection.All));

    [Fact]
    public void Config_Routes_Only() => Golden.Match("config-routes.txt", ConfigRenderer.Render(Sample.Config, ConfigSection.Routes));

    [Fact]
    public void Describe_Service() => Golden.Match("describe-service.txt", ServiceRenderer.Render(Sample.Service));

    [Fact]
    public void Describe_Unbound_Service() => Golden.Match("describe-unbound.txt", ServiceRenderer.Render(Sample.Service with { Waypoint = null, WaypointBound = null, UseWaypoint = null }));

    [Fact]
    public void Config_Sections_Select_Full_Resources()
    {
        var full = JsonNode.Parse("""{"namespace":"apps","name":"waypoint","version":"v","listeners":[{"name":"connect_terminate"}],"routes":[],"clusters":[{"name":"a"},{"name":"b"}],"endpoints":[]}""")!.AsObject();
        Assert.Equal(2, ConfigRenderer.Select(full, ConfigSection.Clusters).AsArray().Count);
        Assert.Empty(ConfigRenderer.Select(full, ConfigSection.Secrets).AsArray());
        Assert.Same(full, ConfigRenderer.Select(full, ConfigSection.All));
        Assert.True(ConfigRenderer.TryParse("Listeners", out var section) && section == ConfigSection.Listeners);
        Assert.False(ConfigRenderer.TryParse("pods", out _));
        Assert.False(StructuredOutput.TryParse("xml", out _));
    }

    [Fact]
    public void Replicas_Merge_Into_The_Leaders_View_With_Every_Replicas_Envoys()
    {
        var follower = Sample.Waypoints with
        {
            Replica = "b",
            Leader = false,
            Waypoints = [Sample.Waypoints.Waypoints[0] with { Envoys = [Sample.Envoy with { NodeId = "waypoint-7f9c-zzz.apps" }], Nacks = [] }],
        };
        var merged = ControllerDebugClient.Merge([follower, Sample.Waypoints]);
        Assert.Equal("a", merged.Replica);
        Assert.Equal(["waypoint-7f9c-abcde.apps", "waypoint-7f9c-zzz.apps"], merged.Waypoints[0].Envoys.Select(e => e.NodeId));
        Assert.Single(merged.Waypoints[0].Nacks);
    }

    internal static class Golden
    {
        public static void Match(string name, string actual, [CallerFilePath] string caller = "")
        {
            var path = Path.Combine(Path.GetDirectoryName(caller)!, "Golden", name);
            if (Environment.GetEnvironmentVariable("WAYPOINT_UPDATE_GOLDEN") == "1")
            {
                File.WriteAllText(path, actual);
                return;
            }

            Assert.True(File.Exists(path), $"Golden file {path} is missing (WAYPOINT_UPDATE_GOLDEN=1 writes it).");
            Assert.Equal(File.ReadAllText(path), actual);
        }
    }

    internal static class Sample
    {
        public static ConnectedEnvoyInfo Envoy { get; } = new(
            "waypoint-7f9c-abcde.apps",
            "Delta",
            Now.AddMinutes(-42),
            new Dictionary<string, string?> { ["cds"] = "9f2c1e0a7b3d44aa", ["eds"] = "9f2c1e0a7b3d44aa", ["lds"] = "9f2c1e0a7b3d44aa", ["rds"] = null },
            "spiffe://cluster.local/ns/apps/sa/waypoint",
            Now.AddHours(23).AddMinutes(18));

        public static WaypointListDocument Waypoints { get; } = new("a", true, 17,
        [
            new WaypointDebugInfo(
                "apps",
                "waypoint",
                true,
                "9f2c1e0a7b3d44aa",
                [
                    new DebugCondition("Accepted", "True", "Accepted", null),
                    new DebugCondition("Programmed", "True", "Programmed", null),
                ],
                ["10.96.0.40", "waypoint.apps.svc.cluster.local"],
                [
                    new BoundServiceInfo("apps/reviews", new DebugCondition("istio.io/WaypointBound", "True", "Bound", "bound to apps/waypoint")),
                    new BoundServiceInfo("apps/ratings", null),
                ],
                [new AttachedObjectInfo("HTTPRoute", "apps", "reviews", "Service apps/reviews", [new DebugCondition("Accepted", "True", "Accepted", null), new DebugCondition("ResolvedRefs", "True", "ResolvedRefs", null)])],
                [
                    new AttachedObjectInfo("AuthorizationPolicy", "apps", "no-delete", "Service apps/reviews", [new DebugCondition("WaypointAccepted", "False", "Invalid", "spec.rules[0]: bad path")], "DENY"),
                    new AttachedObjectInfo("TrafficPolicy", "apps", "retries", "Gateway apps/waypoint", [new DebugCondition("Accepted", "True", "Accepted", null)]),
                ],
                [Envoy],
                [new EnvoyNackInfo(Now.AddMinutes(-5), "waypoint-7f9c-abcde.apps", "rds", "1b2c3d4e5f60718293a4", "Error adding/updating route_config(s) inbound-vip|8080|http|reviews.apps.svc.cluster.local: RE2 program size")]),
            new WaypointDebugInfo("edge", "gw", false, "00aa", [new DebugCondition("Accepted", "True", "Accepted", null), new DebugCondition("Programmed", "False", "Pending", "no pod is ready")], [], [], [], [], [], []),
        ]);

        public static WaypointConfigDocument Config { get; } = new(
            "apps",
            "waypoint",
            "9f2c1e0a7b3d44aa",
            [
                new ListenerSummary("connect_terminate", "0.0.0.0:15008", ["default"]),
                new ListenerSummary("main_internal", "internal", ["inbound-vip|8080|http|reviews.apps.svc.cluster.local", "inbound-vip|9080|tcp|ratings.apps.svc.cluster.local"]),
            ],
            [new RouteConfigSummary("inbound-vip|8080|http|reviews.apps.svc.cluster.local", ["*"], ["apps.reviews.0.0", "apps.reviews.1.0"])],
            [
                new ClusterSummary("inbound-vip|8080|http|reviews.apps.svc.cluster.local", "EDS", "10s"),
                new ClusterSummary("main_internal", "STATIC", null),
            ],
            [new EndpointSummary("inbound-vip|8080|http|reviews.apps.svc.cluster.local", ["10.244.0.10:8080", "10.244.0.11:8080"])]);

        public static ServiceDescription Service { get; } = new(
            "apps",
            "reviews",
            "waypoint",
            "apps/waypoint",
            new DebugCondition("istio.io/WaypointBound", "True", "Bound", "bound to apps/waypoint"),
            [new RouteConfigSummary("inbound-vip|8080|http|reviews.apps.svc.cluster.local", ["*"], ["apps.reviews.0.0", "apps.reviews.1.0"])],
            [new AttachedObjectInfo("HTTPRoute", "apps", "reviews", "Service apps/reviews", [new DebugCondition("Accepted", "True", "Accepted", null)])],
            [
                new AttachedObjectInfo("AuthorizationPolicy", "apps", "ext", "Service apps/reviews", [new DebugCondition("WaypointAccepted", "True", "Accepted", null)], "CUSTOM"),
                new AttachedObjectInfo("AuthorizationPolicy", "apps", "no-delete", "Service apps/reviews", [new DebugCondition("WaypointAccepted", "True", "Accepted", null)], "DENY"),
                new AttachedObjectInfo("AuthorizationPolicy", "apps", "allow-get", "Gateway apps/waypoint", [new DebugCondition("WaypointAccepted", "True", "Accepted", null)], "ALLOW"),
            ],
            []);
    }
}
