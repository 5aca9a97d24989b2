namespace Waypoint.EndToEnd.Tests.Local;

/// <summary>Kubernetes YAML snippets for test meshes.</summary>
internal static class RigYaml
{
    public static string Namespace(string name, string? waypoint = null) => $$"""
        apiVersion: v1
        kind: Namespace
        metadata:
          name: {{name}}
        {{(waypoint is null ? "" : $"  labels:\n    istio.io/use-waypoint: {waypoint}")}}
        ---

        """;

    public static string Waypoint(string name, string ns) => $$"""
        apiVersion: gateway.networking.k8s.io/v1
        kind: Gateway
        metadata:
          name: {{name}}
          namespace: {{ns}}
        spec:
          gatewayClassName: kgateway-waypoint
          listeners:
          - name: mesh
            port: 15008
            protocol: HBONE
        ---

        """;

    /// <summary>A Service on port 80 (or <paramref name="port"/>) → 8080 and a Deployment of <paramref name="replicas"/> echo pods.</summary>
    public static string EchoService(string name, string ns, string? waypoint = null, int replicas = 1, int port = 80, string portName = "http", string? app = null) => $$"""
        apiVersion: v1
        kind: Service
        metadata:
          name: {{name}}
          namespace: {{ns}}
        {{(waypoint is null ? "" : $"  labels:\n    istio.io/use-waypoint: {waypoint}")}}
        spec:
          selector:
            app: {{app ?? name}}
          ports:
          - name: {{portName}}
            port: {{port}}
            targetPort: 8080
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: {{app ?? name}}
          namespace: {{ns}}
        spec:
          replicas: {{replicas}}
          selector:
            matchLabels:
              app: {{app ?? name}}
          template:
            metadata:
              labels:
                app: {{app ?? name}}
            spec:
              serviceAccountName: {{app ?? name}}
              containers:
              - name: echo
                image: waypoint/echo
                ports:
                - containerPort: 8080
        ---

        """;
}
