using k8s;
using k8s.Models;
using Waypoint.TestKit.Envoy;
using Waypoint.Transformation.Compilation;
using Waypoint.Transformation.Model;

namespace Waypoint.Transformation.Tests.Compilation;

public sealed class CrdTests
{
    private static V1CustomResourceDefinition LoadCrd()
    {
        var root = EnvoyBinary.FindRepositoryRoot() ?? throw new InvalidOperationException("repository root not found");
        return KubernetesYaml.Deserialize<V1CustomResourceDefinition>(File.ReadAllText(Path.Combine(root, "manifests", "crds", "trafficpolicies.yaml")));
    }

    [Fact]
    public void Crd_MatchesTheModel()
    {
        var crd = LoadCrd();
        Assert.Equal($"{V1alpha1TrafficPolicy.KubePluralName}.{V1alpha1TrafficPolicy.KubeGroup}", crd.Metadata.Name);
        Assert.Equal(V1alpha1TrafficPolicy.KubeKind, crd.Spec.Names.Kind);
        var version = Assert.Single(crd.Spec.Versions);
        Assert.Equal(V1alpha1TrafficPolicy.KubeApiVersion, version.Name);

        var spec = version.Schema.OpenAPIV3Schema.Properties["spec"];
        Assert.Equal(["targetRefs", "transformation", "retry", "timeouts"], spec.Properties.Keys);
        foreach (var direction in new[] { "request", "response" })
        {
            Assert.Equal(["set", "add", "remove", "body"], spec.Properties["transformation"].Properties[direction].Properties.Keys);
        }
    }

    [Fact]
    public void Crd_RetryOnEnum_IsExactlyWhatTheCompilerAccepts()
    {
        var retryOn = LoadCrd().Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties["retry"].Properties["retryOn"].Items;
        // "items" is untyped in the client model: YAML maps and lists.
        var values = ((IEnumerable<object>)((IDictionary<object, object>)retryOn)["enum"]).Select(v => v.ToString()!).ToList();
        foreach (var value in values)
        {
            var result = TrafficPolicyCompiler.Compile(PolicyYaml.Policy("p", $"retry:\n  retryOn: ['{value}']"));
            Assert.True(result.Succeeded, result.ErrorMessage);
        }

        Assert.Equal(15, values.Count);
    }
}
