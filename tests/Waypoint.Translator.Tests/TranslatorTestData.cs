using Waypoint.Translator.Model;

namespace Waypoint.Translator.Tests;

internal static class TranslatorTestData
{
    public const string Base = """
        apiVersion: v1
        kind: Namespace
        metadata: {name: app, labels: {istio.io/dataplane-mode: ambient, istio.io/use-waypoint: waypoint}}
        ---
        apiVersion: gateway.networking.k8s.io/v1
        kind: GatewayClass
        metadata: {name: kgateway-waypoint}
        spec: {controllerName: waypoint.dev/controller}
        ---
        apiVersion: gateway.networking.k8s.io/v1
        kind: Gateway
        metadata: {name: waypoint, namespace: app, generation: 1}
        spec:
          gatewayClassName: kgateway-waypoint
          listeners: [{name: mesh, port: 15008, protocol: HBONE}]
        """;

    public static string Service(string name, string ip, string ns = "app", string labels = "{}", string ports = "[{name: http, port: 80, targetPort: 8080}]") => "\n" + $"""
        ---
        apiVersion: v1
        kind: Service
        metadata: {"{"}name: {name}, namespace: {ns}, labels: {labels}{"}"}
        spec: {"{"}clusterIP: {ip}, ports: {ports}{"}"}
        """;

    public static string Route(string name, string body) => "\n" + $"""
        ---
        apiVersion: gateway.networking.k8s.io/v1
        kind: HTTPRoute
        metadata: {"{"}name: {name}, namespace: app{"}"}
        spec:
        {body}
        """;

    public static ClusterSnapshot Load(string yaml)
    {
        var result = KubernetesObjectLoader.Load(yaml);
        Assert.True(result.Errors.Count == 0, string.Join("\n", result.Errors) + "\n" + yaml);
        return result.ToSnapshot();
    }
}
