using Waypoint.Node.Cri.V1;
using Waypoint.Node.Runtime;

namespace Waypoint.Node.Tests;

public sealed class SandboxResolvConfTests
{
    [Fact]
    public void Renders_Search_Servers_And_Options_In_Order()
    {
        var text = SandboxResolvConf.Render(new DnsConfig
        {
            Servers = { "10.96.0.10", "10.96.0.11" },
            Searches = { "demo.svc.cluster.local", "svc.cluster.local", "cluster.local" },
            Options = { "ndots:5", "edns0" },
        });

        Assert.Equal("search demo.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\nnameserver 10.96.0.11\noptions ndots:5 edns0\n", text);
    }

    [Fact]
    public void An_Empty_Or_Missing_Config_Means_No_File()
    {
        Assert.Null(SandboxResolvConf.Render(null));
        Assert.Null(SandboxResolvConf.Render(new DnsConfig()));
    }
}
