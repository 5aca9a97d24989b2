using System.Net;
using System.Text.Json.Nodes;
using Waypoint.TestKit.Xds;

namespace Waypoint.Xds.Tests.Protocol;

public sealed class DebugEndpointTests : ProtocolTestBase
{
    [Fact]
    public async Task DebugXds_ShowsSnapshotsStreamsAndNacks()
    {
        var snapshot = Snapshot("a");
        Xds.Cache.SetSnapshot(Group, snapshot);
        await using var client = Sotw("pod-1");
        await client.RequestAsync(XdsTypeUrls.Cluster);
        var response = await client.ReceiveAsync(Timeout);
        await client.NackAsync(response, "nope");
        await Xds.WaitForNackAsync("pod-1", XdsTypeUrls.Cluster);

        using var http = new HttpClient { DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
        var json = JsonNode.Parse(await http.GetStringAsync(new Uri(Xds.Address, "/debug/xds")))!;

        Assert.Equal(Group, json["snapshots"]![0]!["nodeGroup"]!.GetValue<string>());
        Assert.Equal(snapshot.Clusters.Version, json["snapshots"]![0]!["types"]!["cds"]!["version"]!.GetValue<string>());
        var stream = json["streams"]![0]!;
        Assert.Equal("pod-1", stream["nodeId"]!.GetValue<string>());
        var cds = stream["types"]![0]!;
        Assert.Equal(response.Nonce, cds["lastSentNonce"]!.GetValue<string>());
        Assert.Equal("nope", cds["lastNack"]!["errorMessage"]!.GetValue<string>());
        Assert.Equal("nope", json["nacks"]![0]!["errorMessage"]!.GetValue<string>());
    }
}
