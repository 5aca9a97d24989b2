using k8s;
using Waypoint.Transformation.Compilation;
using Waypoint.Transformation.Model;

namespace Waypoint.Transformation.Tests;

/// <summary>Test policies written as the YAML users apply (kgateway manifests).</summary>
internal static class PolicyYaml
{
    public static V1alpha1TrafficPolicy Parse(string yaml) => KubernetesYaml.Deserialize<V1alpha1TrafficPolicy>(yaml);

    /// <summary>A TrafficPolicy named <paramref name="name"/> targeting HTTPRoute <c>route</c>, with <paramref name="spec"/> (indented 2) under spec.</summary>
    public static V1alpha1TrafficPolicy Policy(string name, string spec, string targetKind = "HTTPRoute", DateTime? created = null)
    {
        var policy = Parse($"""
            apiVersion: gateway.kgateway.dev/v1alpha1
            kind: TrafficPolicy
            metadata:
              name: {name}
              namespace: apps
            spec:
              targetRefs:
              - group: gateway.networking.k8s.io
                kind: {targetKind}
                name: target
            {Indent(spec)}
            """);
        policy.Metadata.CreationTimestamp = created;
        return policy;
    }

    public static CompiledTrafficPolicy Compile(string name, string spec, string targetKind = "HTTPRoute", DateTime? created = null)
    {
        var result = TrafficPolicyCompiler.Compile(Policy(name, spec, targetKind, created));
        Assert.True(result.Succeeded, result.ErrorMessage);
        return result.Policy!;
    }

    private static string Indent(string spec) =>
        string.Join('\n', spec.Trim('\n').Split('\n').Select(line => "  " + line));
}
