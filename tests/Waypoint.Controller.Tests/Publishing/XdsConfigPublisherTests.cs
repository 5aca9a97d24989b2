using Waypoint.Controller.Publishing;
using Waypoint.Controller.Tests.Infrastructure;
using Waypoint.Translator;
using Waypoint.Translator.Model;
using Waypoint.Xds;

namespace Waypoint.Controller.Tests.Publishing;

public sealed class XdsConfigPublisherTests
{
    private static readonly string Mesh = Objects.OneServiceMesh;

    [Fact]
    public async Task Publishes_The_Translators_Encodings_Without_Encoding_Again()
    {
        var snapshot = KubernetesObjectLoader.Load(Mesh, "mesh.yaml").ToSnapshot();
        var translation = new WaypointTranslator().Translate(snapshot);
        var resources = translation.Waypoints[new WaypointKey("apps", "waypoint")];
        Assert.Contains(resources.Listeners, l => l.Name == "main_internal");
        var cache = new XdsSnapshotCache();

        await new XdsConfigPublisher(cache).PublishAsync(new WaypointConfigUpdate(1, snapshot, translation, DateTimeOffset.UnixEpoch), CancellationToken.None);

        Assert.True(cache.TryGetSnapshot("waypoint.apps", out var published));
        var sent = published.Listeners.Resources.Concat(published.Routes.Resources).Concat(published.Clusters.Resources).Concat(published.Endpoints.Resources).ToList();
        Assert.Equal(resources.Encoded.Select(e => (e.TypeUrl, e.Name)), sent.Select(r => (r.TypeUrl, r.Name)));
        Assert.All(resources.Encoded.Zip(sent), p =>
        {
            Assert.Same(p.First.Bytes, p.Second.Packed.Value);
            Assert.Equal(p.First.Message, p.Second.Message);
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
