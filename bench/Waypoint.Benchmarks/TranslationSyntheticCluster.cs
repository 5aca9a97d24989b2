using k8s.Models;
using Waypoint.Translator.Model;

namespace Waypoint.Benchmarks;

/// <summary>
/// A synthetic mesh for translation benchmarks and scale tests: one waypoint, <c>n</c> bound services (two ready
/// ambient pods each) and one Service-parented HTTPRoute per service.
/// </summary>
internal static class TranslationSyntheticCluster
{
    public static ClusterSnapshot Create(int services)
    {
        var builder = ClusterSnapshot.CreateBuilder();
        builder.Add(new V1Namespace
        {
            Metadata = new V1ObjectMeta
            {
                Name = "app",
                Labels = new Dictionary<string, string> { ["istio.io/dataplane-mode"] = "ambient", ["istio.io/use-waypoint"] = "waypoint" },
            },
        });
        builder.Add(new V1GatewayClass
        {
            Metadata = new V1ObjectMeta { Name = "kgateway-waypoint" },
            Spec = new V1GatewayClassSpec { ControllerName = "waypoint.dev/controller" },
        });
        builder.Add(new V1Gateway
        {
            Metadata = new V1ObjectMeta { Name = "waypoint", NamespaceProperty = "app", Generation = 1 },
            Spec = new V1GatewaySpec
            {
                GatewayClassName = "kgateway-waypoint",
                Listeners = [new GatewayListener { Name = "mesh", Port = 15008, Protocol = "HBONE" }],
            },
        });

        for (var i = 0; i < services; i++)
        {
            var name = $"svc-{i}";
            builder.Add(new V1Service
            {
                Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = "app" },
                Spec = new V1ServiceSpec
                {
                    ClusterIP = $"10.{96 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}",
                    Ports = [new V1ServicePort { Name = "http", Port = 80, TargetPort = 8080 }],
                },
            });
            var pods = new List<V1Endpoint>();
            for (var p = 0; p < 2; p++)
            {
                var podName = $"{name}-{p}";
                var ip = $"10.{200 + p}.{(i >> 8) & 255}.{i & 255}";
                builder.Add(new V1Pod
                {
                    Metadata = new V1ObjectMeta { Name = podName, NamespaceProperty = "app", Labels = new Dictionary<string, string> { ["app"] = name } },
                    Status = new V1PodStatus { PodIP = ip },
                });
                pods.Add(new V1Endpoint
                {
                    Addresses = [ip],
                    Conditions = new V1EndpointConditions { Ready = true },
                    TargetRef = new V1ObjectReference { Kind = "Pod", Name = podName, NamespaceProperty = "app" },
                });
            }

            builder.Add(new V1EndpointSlice
            {
                Metadata = new V1ObjectMeta { Name = $"{name}-abcde", NamespaceProperty = "app", Labels = new Dictionary<string, string> { ["kubernetes.io/service-name"] = name } },
                AddressType = "IPv4",
                Ports = [new Discoveryv1EndpointPort { Name = "http", Port = 8080 }],
                Endpoints = pods,
            });
            builder.Add(Route(i, "/api"));
        }

        return builder.Build();
    }

    /// <summary>The snapshot with route <paramref name="index"/> replaced by a new object with another path, as an informer update would.</summary>
    public static ClusterSnapshot WithChangedRoute(ClusterSnapshot snapshot, int index, string path)
    {
        var routes = snapshot.HttpRoutes.ToArray();
        var position = Array.FindIndex(routes, r => r.Metadata.Name == $"route-{index}");
        routes[position] = Route(index, path);
        return snapshot with { HttpRoutes = routes };
    }

    private static V1HTTPRoute Route(int i, string path) => new()
    {
        Metadata = new V1ObjectMeta { Name = $"route-{i}", NamespaceProperty = "app", Generation = 1, CreationTimestamp = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc) },
        Spec = new V1HTTPRouteSpec
        {
            ParentRefs = [new ParentReference { Group = "", Kind = "Service", Name = $"svc-{i}" }],
            Rules =
            [
                new HTTPRouteRule
                {
                    Matches = [new HTTPRouteMatch { Path = new HTTPPathMatch { Type = "PathPrefix", Value = path } }],
                    Filters = [new HTTPRouteFilter { Type = "RequestHeaderModifier", RequestHeaderModifier = new HTTPHeaderFilter { Set = [new HTTPHeader { Name = "x-route", Value = $"route-{i}" }] } }],
                    BackendRefs = [new HTTPBackendRef { Name = $"svc-{i}", Port = 80 }],
                    Timeouts = new HTTPRouteTimeouts { Request = "10s" },
                },
                new HTTPRouteRule { BackendRefs = [new HTTPBackendRef { Name = $"svc-{i}", Port = 80 }] },
            ],
        },
    };
}
