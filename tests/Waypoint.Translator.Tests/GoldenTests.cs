using System.Text.Json.Nodes;
using Google.Protobuf;

namespace Waypoint.Translator.Tests;

public sealed class GoldenTests
{
    public static TheoryData<string> Cases => new(GoldenFiles.Cases());

    [Fact]
    public void There_Are_AtLeast_25_Cases() => Assert.True(GoldenFiles.Cases().Count() >= 25);

    [Theory]
    [MemberData(nameof(Cases))]
    public void Translation_Matches_Golden(string name)
    {
        var (load, result) = GoldenFiles.Translate(name);
        var actual = GoldenFiles.Render(load, result);
        var path = Path.Combine(GoldenFiles.Root, name, "output.json");

        if (GoldenFiles.Update)
        {
            File.WriteAllText(path, GoldenFiles.ToText(actual));
            return;
        }

        Assert.True(File.Exists(path), $"{path} is missing; run with WAYPOINT_UPDATE_GOLDEN=1 to create it.");
        var expected = JsonNode.Parse(File.ReadAllText(path))!;
        if (!JsonNode.DeepEquals(expected, actual))
        {
            var actualPath = Path.Combine(Path.GetTempPath(), $"waypoint-golden-{name}.actual.json");
            File.WriteAllText(actualPath, GoldenFiles.ToText(actual));
            Assert.Fail($"Translation of '{name}' differs from {path}; actual output written to {actualPath}. If the change is intended, run with WAYPOINT_UPDATE_GOLDEN=1.");
        }
    }

    /// <summary>
    /// The bytes the xDS server sends are the translator's own encodings (main_internal is assembled from pieces):
    /// for every case they must be exactly what encoding each resource gives.
    /// </summary>
    [Theory]
    [MemberData(nameof(Cases))]
    public void Encoded_Resources_Equal_Encoding_The_Messages(string name)
    {
        var (_, result) = GoldenFiles.Translate(name);

        foreach (var resources in result.Waypoints.Values)
        {
            var messages = resources.Listeners.Cast<IMessage>().Concat(resources.Routes).Concat(resources.Clusters).Concat(resources.Endpoints).ToList();
            Assert.Equal(messages.Count, resources.Encoded.Count);
            Assert.All(messages.Zip(resources.Encoded), p =>
            {
                Assert.Equal(p.First, p.Second.Message);
                Assert.Equal(p.First.ToByteString(), p.Second.Bytes);
            });
        }
    }
}
