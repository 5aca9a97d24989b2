using Waypoint.Controller.Publishing;
using Waypoint.Translator;
using Waypoint.Translator.Model;
using Waypoint.Xds;

namespace Waypoint.Controller.Tests.Publishing;

public sealed class XdsConfigPublisherTests
{
    private const string Mesh = """
        apiVersion: v1
        kind: Namespace
        metadata: { name: apps, labels: { istio.io/use-waypoint: waypoint, istio.io/dataplane-mode: ambient } }
        ---
        apiVersion: gateway.networking.k8s.io/v1
        kind: Gateway
        metadata: { name: waypoint, namespace: apps }
        spec: { gatewayClassName: kgateway-waypoint, listeners: [{ name: mesh, port: 15008, protocol: HBONE }] }
        ---
        apiVersion: v1
        kind: Service
        metadata: { name: echo, namespace: apps }
        spec: { clusterIP: 10.96.0.10, ports: [{ name: http, port: 80, targetPort: 8080 }] }
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: { name: echo-abc, namespace: apps, labels: { kubernetes.io/service-name: echo } }
        addressType: IPv4
        ports: [{ name: http, port: 8080 }]
        endpoints: [{ addresses: [10.244.0.10], conditions: { ready: true } }]
        """;

    [Fact]
    public async Task Publishes_The_Translators_Encodings_Without_Encoding_Again()
    {
        var snapshot = KubernetesObjectLoader.Load(Mesh, "mesh.yaml").ToSnapshot();
        var translation = new WaypointTranslator().Translate(snapshot);
        var resources = translation.Waypoints[new WaypointKey("apps", "waypoint")];
        var cache = new XdsSnapshotCache();

        await new XdsConfigPublisher(cache).PublishAsync(new WaypointConfigUpdate(1, snapshot, translation, DateTimeOffset.UnixEpoch), CancellationToken.None);

        Assert.True(cache.TryGetSnapshot("waypoint.apps", out var published));
        var sent = published.Listeners.Resources.Concat(published.Clusters.Resources).Concat(published.Endpoints.Resources).ToList();
        Assert.Equal(resources.Encoded.Select(e => (e.TypeUrl, e.Name)), sent.Select(r => (r.TypeUrl, r.Name)));
        Assert.All(resources.Encoded.Zip(sent), p =>
        {
            Assert.Same(p.First.Bytes, p.Second.Packed.Value);
            Assert.Same(p.First.Message, p.Second.Message);
        });

        // The versions are those of encoding the messages afresh: the shortcut changes nothing Envoy sees.
        var encodedAgain = XdsSnapshot.Create(resources.Listeners, resources.Routes, resources.Clusters, resources.Endpoints);
        Assert.Equal(encodedAgain.Version, published.Version);
    }

    [Fact]
    public async Task Unchanged_Translation_Is_Not_Published_Again()
    {
        var snapshot = KubernetesObjectLoader.Load(Mesh, "mesh.yaml").ToSnapshot();
        var translator = new WaypointTranslator();
        var cache = new XdsSnapshotCache();
        var publisher = new XdsConfigPublisher(cache);

        await publisher.PublishAsync(new WaypointConfigUpdate(1, snapshot, translator.Translate(snapshot), DateTimeOffset.UnixEpoch), CancellationToken.None);
        Assert.True(cache.TryGetSnapshot("waypoint.apps", out var first));
        await publisher.PublishAsync(new WaypointConfigUpdate(2, snapshot, translator.Translate(snapshot), DateTimeOffset.UnixEpoch), CancellationToken.None);
        Assert.True(cache.TryGetSnapshot("waypoint.apps", out var second));

        Assert.Same(first, second);
    }
}
