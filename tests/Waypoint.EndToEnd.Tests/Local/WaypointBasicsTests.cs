using System.Net;
using Waypoint.Local.Echo;
using Waypoint.Local.Ztunnel;

namespace Waypoint.EndToEnd.Tests.Local;

public sealed class BasicsFixture : RigFixture
{
    protected override IReadOnlyDictionary<string, string> Files => new Dictionary<string, string>
    {
        ["mesh.yaml"] = RigYaml.Namespace("demo") + RigYaml.Waypoint("waypoint", "demo")
            + RigYaml.EchoService("bound", "demo", waypoint: "waypoint", replicas: 2)
            + RigYaml.EchoService("unbound", "demo"),
    };
}

/// <summary>Test classes sharing one basics rig (two rigs from the same YAML would claim the same addresses).</summary>
[CollectionDefinition(Name)]
public sealed class BasicsRigGroup : ICollectionFixture<BasicsFixture>
{
    public const string Name = "basics rig";
}

[Collection(BasicsRigGroup.Name)]
public sealed class WaypointBasicsTests(BasicsFixture fixture)
{
    [Fact]
    public async Task BoundService_IsReachedThroughWaypoint_BackendSeesRequestIdAndWaypointIdentity()
    {
        using var response = await fixture.Client.GetAsync(new Uri("http://bound.demo.svc.cluster.local/hello?x=1"));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        var echo = EchoReply.Parse(body);
        Assert.StartsWith("bound-", echo.Pod, StringComparison.Ordinal);
        Assert.Equal("/hello", echo.Path);
        Assert.Equal("?x=1", echo.Query);
        Assert.False(string.IsNullOrEmpty(echo.Header("x-request-id")));
        Assert.Equal("spiffe://cluster.local/ns/demo/sa/waypoint", echo.Header(ZtunnelBootstraps.PeerIdentityHeader));
    }

    [Fact]
    public async Task UnboundService_GoesStraightToPod_NotThroughWaypoint()
    {
        using var response = await fixture.Client.GetAsync(new Uri("http://unbound.demo.svc.cluster.local/direct"));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        var echo = EchoReply.Parse(body);
        Assert.Equal("unbound-0", echo.Pod);
        Assert.Equal(fixture.Rig.ClientIdentity, echo.Header(ZtunnelBootstraps.PeerIdentityHeader));
        Assert.Null(echo.Header("x-request-id"));
    }
}
