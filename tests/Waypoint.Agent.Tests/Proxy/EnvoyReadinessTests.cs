using System.Net;
using Microsoft.Extensions.Time.Testing;
using Waypoint.Agent.Proxy;
using Waypoint.TestKit.Envoy;
using Waypoint.TestKit.Xds;
using Waypoint.Xds;
using Waypoint.Xds.Bootstrap;

namespace Waypoint.Agent.Tests.Proxy;

/// <summary>The waypoint pod's readiness and drain, against a real Envoy and a real xDS server.</summary>
public sealed class EnvoyReadinessTests
{
    private const string Group = "waypoint.apps";

    [Fact]
    public async Task Not_Ready_When_The_Initial_Fetch_Timed_Out_Without_Xds_And_Ready_Once_The_Listeners_Arrive()
    {
        await using var xds = await TestXdsServer.StartAsync();
        var bootstrap = EnvoyBootstrapBuilder.RenderJson(EnvoyBootstrapBuilder.Build(xds.CreateBootstrapOptions(Group) with { InitialFetchTimeout = TimeSpan.FromSeconds(1) }));

        // No snapshot for the group: the fetch times out and Envoy goes LIVE anyway, with no listener at all.
        await using var envoy = await EnvoyProcess.StartAsync(bootstrap);
        Assert.Equal("LIVE", (await envoy.GetTextAsync("ready")).Trim());
        using var admin = new EnvoyAdminClient(envoy.AdminUri);
        var before = await admin.CheckReadyAsync([EnvoyAdminClient.ConnectTerminateListener], CancellationToken.None);
        Assert.False(before.IsReady);
        Assert.Contains("connect_terminate", before.Reason, StringComparison.Ordinal);

        // The control plane delivers the waypoint's listeners: ready.
        xds.Cache.SetSnapshot(Group, Snapshot());
        await envoy.WaitUntilAsync(
            async ct => (await admin.CheckReadyAsync([EnvoyAdminClient.ConnectTerminateListener], ct)).IsReady,
            TimeSpan.FromSeconds(30),
            "ready with connect_terminate");
    }

    [Fact]
    public async Task Not_Ready_When_The_Admin_Api_Does_Not_Answer()
    {
        using var admin = new EnvoyAdminClient(new Uri("http://127.0.0.1:9/"));
        var readiness = await admin.CheckReadyAsync([EnvoyAdminClient.ConnectTerminateListener], CancellationToken.None);
        Assert.False(readiness.IsReady);
    }

    [Fact]
    public async Task Drain_Starts_Envoys_Graceful_Listener_Drain_And_Returns_After_The_Drain_Period()
    {
        await using var xds = await TestXdsServer.StartAsync();
        xds.Cache.SetSnapshot(Group, Snapshot());
        await using var envoy = await xds.StartEnvoyAsync(Group);
        using var admin = new EnvoyAdminClient(envoy.AdminUri);
        await envoy.WaitUntilAsync(async ct => (await admin.CheckReadyAsync([EnvoyAdminClient.ConnectTerminateListener], ct)).IsReady, TimeSpan.FromSeconds(30), "ready");

        var time = new FakeTimeProvider();
        var drain = new EnvoyDrain(admin, TimeSpan.FromSeconds(20), time);
        var first = drain.DrainAsync(CancellationToken.None);
        var second = drain.DrainAsync(CancellationToken.None);

        // Envoy drains (its --drain-time-s is 1 s in the test kit): the listener stops.
        await envoy.WaitUntilAsync(async ct => await envoy.GetStatValueAsync("listener_manager.listener_stopped", ct) >= 1, TimeSpan.FromSeconds(30), "listeners drained and stopped");
        Assert.False(first.IsCompleted);
        Assert.False(second.IsCompleted);

        // The preStop hooks are answered only when the pod's drain period is over.
        time.Advance(TimeSpan.FromSeconds(20));
        await first.WaitAsync(TimeSpan.FromSeconds(20));
        await second.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.True(drain.Started);
    }

    private static XdsSnapshot Snapshot() => XdsSnapshot.Create(
        [XdsTestResources.HttpListener(EnvoyAdminClient.ConnectTerminateListener)],
        [XdsTestResources.Routes(XdsTestResources.RouteName, ("/", "echo"))],
        [XdsTestResources.EdsCluster("echo")],
        [XdsTestResources.Endpoints("echo", new IPEndPoint(IPAddress.Loopback, 9))]);
}
