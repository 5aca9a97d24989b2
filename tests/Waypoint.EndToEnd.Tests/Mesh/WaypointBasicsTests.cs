using System.Net;
using Waypoint.Local.Echo;

namespace Waypoint.EndToEnd.Tests.Mesh;

/// <summary>Namespace <c>demo</c>: Service <c>bound</c> (two pods) uses the waypoint by its own label, <c>unbound</c> uses none.</summary>
internal static class BasicsMesh
{
    public const string Ns = "demo";

    public static IReadOnlyDictionary<string, string> Files => new Dictionary<string, string>
    {
        ["demo.yaml"] = MeshYaml.Namespace(Ns) + MeshYaml.Waypoint("waypoint", Ns)
            + MeshYaml.EchoService("bound", Ns, waypoint: "waypoint", replicas: 2)
            + MeshYaml.EchoService("unbound", Ns),
        // A Deployment's pod as a second client: the waypoint's metrics name its workload from ztunnel's baggage.
        ["demo-metrics-client.yaml"] = PrometheusScrapeTests.ClientDeployment,
    };
}

[Collection(MeshBoxGroup.Name)]
public sealed class WaypointBasicsTests(MeshBoxFixture mesh)
{
    private const string WaypointIdentity = "spiffe://cluster.local/ns/demo/sa/waypoint";

    [Fact]
    public async Task BoundService_IsReachedThroughWaypoint_BackendSeesRequestIdAndWaypointIdentity()
    {
        Assert.Equal("demo/waypoint", mesh.Service(BasicsMesh.Ns, "bound").Waypoint);
        using var response = await mesh.Client.GetAsync(new Uri("http://bound.demo.svc.cluster.local/hello?x=1"));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        var echo = EchoReply.Parse(body);
        Assert.StartsWith("bound-", echo.Pod, StringComparison.Ordinal);
        Assert.Equal("/hello", echo.Path);
        Assert.Equal("?x=1", echo.Query);
        Assert.False(string.IsNullOrEmpty(echo.Header("x-request-id")));

        // The HBONE tunnel into the serving pod came from the waypoint (ztunnel's inbound logs each tunnel's peer as it opens).
        await AssertTunnelledAsync(echo.Pod, WaypointIdentity);
    }

    [Fact]
    public async Task UnboundService_GoesStraightToPod_NotThroughWaypoint()
    {
        Assert.Null(mesh.Service(BasicsMesh.Ns, "unbound").Waypoint);
        using var response = await mesh.Client.GetAsync(new Uri("http://unbound.demo.svc.cluster.local/direct"));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        var echo = EchoReply.Parse(body);
        Assert.Equal("unbound-0", echo.Pod);
        Assert.Null(echo.Header("x-request-id"));
        await AssertTunnelledAsync("unbound-0", MeshBoxFixture.ClientIdentity);
        Assert.DoesNotContain(mesh.ZtunnelAccessLog(), l => l.Contains("inbound pod=demo/unbound-0 ", StringComparison.Ordinal) && l.Contains($"peer={WaypointIdentity} ", StringComparison.Ordinal));
    }

    private Task AssertTunnelledAsync(string pod, string peer) => MeshBoxFixture.EventuallyAsync(
        () => Task.FromResult(mesh.ZtunnelAccessLog().Any(l => l.Contains($"inbound pod=demo/{pod} ", StringComparison.Ordinal) && l.Contains($"peer={peer} ", StringComparison.Ordinal))),
        () => Task.FromResult($"no inbound tunnel into demo/{pod} from {peer}:\n{string.Join('\n', mesh.ZtunnelAccessLog().TakeLast(30))}"));
}
