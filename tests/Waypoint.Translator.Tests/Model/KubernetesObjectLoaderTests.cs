using k8s;
using k8s.Models;
using Waypoint.Transformation.Model;
using Waypoint.Translator.Model;

namespace Waypoint.Translator.Tests.Model;

public sealed class KubernetesObjectLoaderTests
{
    [Fact]
    public void Load_ReadsAllKinds_AndToleratesUnknownFields()
    {
        const string yaml = """
            apiVersion: gateway.networking.k8s.io/v1
            kind: Gateway
            metadata:
              name: waypoint
              namespace: app
            spec:
              gatewayClassName: kgateway-waypoint
              someFutureField: {a: 1}
              listeners:
              - name: mesh
                port: 15008
                protocol: HBONE
            ---
            # a comment-only document is skipped
            ---
            apiVersion: gateway.networking.k8s.io/v1
            kind: HTTPRoute
            metadata:
              name: r
            spec:
              parentRefs:
              - {group: "", kind: Service, name: echo, port: 80}
              rules:
              - retry: {codes: [503], attempts: 3, backoff: 100ms}
                timeouts: {request: 10s}
                backendRefs: [{name: echo, port: 80, weight: 2}]
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: echo, namespace: app, labels: {istio.io/use-waypoint: waypoint}}
            spec:
              clusterIP: 10.0.0.1
              ports: [{name: http, port: 80, targetPort: 8080}]
            ---
            apiVersion: networking.istio.io/v1
            kind: ServiceEntry
            metadata: {name: se, namespace: app}
            spec: {hosts: [a.example.com], addresses: [240.0.0.1], ports: [{number: 80, name: http, protocol: HTTP}]}
            ---
            apiVersion: gateway.networking.k8s.io/v1beta1
            kind: ReferenceGrant
            metadata: {name: g, namespace: app}
            spec: {from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: other}], to: [{group: "", kind: Service}]}
            ---
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: ignored}
            """;

        var result = KubernetesObjectLoader.Load(yaml, "test.yaml");

        Assert.Empty(result.Errors);
        Assert.Single(result.Ignored);
        var snapshot = result.ToSnapshot();
        var gateway = Assert.Single(snapshot.Gateways);
        Assert.Equal(15008, gateway.Spec.Listeners[0].Port);
        var route = Assert.Single(snapshot.HttpRoutes);
        Assert.Equal("default", route.Metadata.NamespaceProperty);
        Assert.Equal(80, route.Spec.ParentRefs![0].Port);
        Assert.Equal("", route.Spec.ParentRefs[0].Group);
        Assert.Equal([503], route.Spec.Rules![0].Retry!.Codes!);
        Assert.Equal("100ms", route.Spec.Rules[0].Retry!.Backoff);
        Assert.Equal(2, route.Spec.Rules[0].BackendRefs![0].Weight);
        var service = Assert.Single(snapshot.Services);
        Assert.Equal(8080, int.Parse(service.Spec.Ports[0].TargetPort.Value, System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal("240.0.0.1", Assert.Single(snapshot.ServiceEntries).Spec.Addresses![0]);
        Assert.Single(snapshot.ReferenceGrants);
    }

    [Fact]
    public void Load_ReportsBadDocuments_AndKeepsTheOthers()
    {
        const string yaml = """
            apiVersion: v1
            kind: Namespace
            metadata: {name: ok}
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: bad}
            spec: {ports: "not a list"}
            ---
            key: [unclosed
            ---
            apiVersion: v1
            kind: Pod
            metadata: {}
            ---
            apiVersion: v1
            kind: Namespace
            metadata: {name: ok2}
            """;

        var result = KubernetesObjectLoader.Load(yaml, "bad.yaml");

        Assert.Equal(["ok", "ok2"], result.Objects.Select(o => o.Metadata.Name));
        Assert.Equal(3, result.Errors.Count);
        Assert.Contains(result.Errors, e => e.Document == 1 && e.Message.Contains("Service", StringComparison.Ordinal));
        Assert.Contains(result.Errors, e => e.Document == 2 && e.Message.Contains("YAML", StringComparison.Ordinal));
        Assert.Contains(result.Errors, e => e.Document == 3 && e.Message.Contains("metadata.name", StringComparison.Ordinal));
    }

    [Fact]
    public void ModelTypes_RoundTripThroughKubernetesJson()
    {
        var route = new V1HTTPRoute
        {
            Metadata = new V1ObjectMeta { Name = "r", NamespaceProperty = "ns" },
            Spec = new V1HTTPRouteSpec { Rules = [new HTTPRouteRule { Retry = new HTTPRouteRetry { Attempts = 2 } }] },
        };

        var json = KubernetesJson.Serialize(route);
        var back = KubernetesJson.Deserialize<V1HTTPRoute>(json);

        Assert.Contains("\"apiVersion\":\"gateway.networking.k8s.io/v1\"", json, StringComparison.Ordinal);
        Assert.Contains("\"retry\":{\"attempts\":2}", json, StringComparison.Ordinal);
        Assert.Equal(2, back.Spec.Rules![0].Retry!.Attempts);
    }

    // The API server and the goldens see these bytes: defaults, field order and inlined references must not drift.
    [Fact]
    public void ModelTypes_SerializeInSpecFieldOrder()
    {
        var route = new V1HTTPRoute
        {
            Metadata = new V1ObjectMeta { Name = "r" },
            Spec = new V1HTTPRouteSpec
            {
                ParentRefs = [new ParentReference { Kind = "Service", Name = "svc", Port = 80 }],
                Rules = [new HTTPRouteRule { BackendRefs = [new HTTPBackendRef { Name = "svc", Port = 80, Weight = 3, Filters = [] }] }],
            },
        };

        Assert.Equal(
            """{"apiVersion":"gateway.networking.k8s.io/v1","kind":"HTTPRoute","metadata":{"name":"r"},"spec":{"parentRefs":[{"kind":"Service","name":"svc","port":80}],"rules":[{"backendRefs":[{"name":"svc","port":80,"weight":3,"filters":[]}]}]},"status":{"parents":[]}}""",
            KubernetesJson.Serialize(route));
        Assert.Equal(
            """{"apiVersion":"gateway.networking.k8s.io/v1beta1","kind":"ReferenceGrant","metadata":{},"spec":{"from":[],"to":[]}}""",
            KubernetesJson.Serialize(new V1beta1ReferenceGrant()));
        Assert.Equal(
            """{"apiVersion":"gateway.kgateway.dev/v1alpha1","kind":"TrafficPolicyList","metadata":{},"items":[]}""",
            KubernetesJson.Serialize(new V1alpha1TrafficPolicyList()));
    }
}
