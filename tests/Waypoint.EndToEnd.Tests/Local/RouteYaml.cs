namespace Waypoint.EndToEnd.Tests.Local;

/// <summary>HTTPRoutes attached to a Service (GAMMA), as YAML.</summary>
internal static class RouteYaml
{
    /// <summary>An HTTPRoute named after <paramref name="service"/> with the given rules (YAML list items indented by 2).</summary>
    public static string ForService(string service, string ns, string rules, string? name = null) => $$"""
        apiVersion: gateway.networking.k8s.io/v1
        kind: HTTPRoute
        metadata:
          name: {{name ?? service}}
          namespace: {{ns}}
        spec:
          parentRefs:
          - group: ""
            kind: Service
            name: {{service}}
            port: 80
          rules:
        {{rules}}
        ---

        """;
}
