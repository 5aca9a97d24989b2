using System.Net;
using Grpc.Net.Client;
using Waypoint.TestKit.Xds;

namespace Waypoint.Xds.Tests.Protocol;

/// <summary>A real xDS server on loopback and gRPC clients scripted message by message.</summary>
public abstract class ProtocolTestBase : IAsyncLifetime
{
    protected const string Group = "gw.ns";
    // Generous: the whole suite runs in parallel on two cores, and a missing response still fails the test.
    protected static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private readonly List<GrpcChannel> _channels = [];

    protected TestXdsServer Xds { get; private set; } = null!;

    public async Task InitializeAsync() => Xds = await TestXdsServer.StartAsync();

    public async Task DisposeAsync()
    {
        foreach (var channel in _channels)
        {
            channel.Dispose();
        }

        await Xds.DisposeAsync();
    }

    protected GrpcChannel Channel()
    {
        var channel = GrpcChannel.ForAddress(Xds.Address);
        _channels.Add(channel);
        return channel;
    }

    protected SotwAdsTestClient Sotw(string nodeId = "node-1", string group = Group) =>
        new(Channel(), SotwAdsTestClient.Node(nodeId, group));

    protected DeltaAdsTestClient Delta(string nodeId = "node-1", string group = Group) =>
        new(Channel(), SotwAdsTestClient.Node(nodeId, group));

    protected static IPEndPoint Backend(int port) => new(IPAddress.Loopback, port);

    /// <summary>Listener, routes, and one EDS cluster + endpoints per name; routes send /name to each cluster.</summary>
    protected static XdsSnapshot Snapshot(params string[] clusters) =>
        XdsTestResources.HttpProxy(clusters.Select((c, i) => (c, Backend(10000 + i))).ToArray());

    protected static XdsSnapshot WithEndpointPort(XdsSnapshot snapshot, string cluster, int port) =>
        XdsSnapshot.Create(snapshot.Listeners.Resources.Concat(snapshot.Routes.Resources).Concat(snapshot.Clusters.Resources)
            .Concat(snapshot.Endpoints.Resources.Select(r => r.Name == cluster
                ? XdsResource.Create(XdsTypeUrls.ClusterLoadAssignment, cluster, XdsTestResources.Endpoints(cluster, Backend(port)))
                : r)));

    protected static IEnumerable<string> Names<T>(IEnumerable<T> resources, Func<T, string> name) => resources.Select(name).Order(StringComparer.Ordinal);
}
