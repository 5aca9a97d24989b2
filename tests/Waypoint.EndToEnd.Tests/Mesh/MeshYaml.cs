namespace Waypoint.EndToEnd.Tests.Mesh;

/// <summary>
/// Kubernetes YAML for the test meshes, valid for a real API server: ambient namespaces, ServiceAccounts for every
/// pod, echo pods named <c>&lt;app&gt;-&lt;n&gt;</c> (bare Pods, so replies name a stable pod) that know their own name.
/// </summary>
internal static class MeshYaml
{
    /// <summary>An ambient namespace, optionally using a waypoint for all its Services.</summary>
    public static string Namespace(string name, string? waypoint = null) => $$"""
        apiVersion: v1
        kind: Namespace
        metadata:
          name: {{name}}
          labels:
            istio.io/dataplane-mode: ambient
        {{(waypoint is null ? "" : $"    istio.io/use-waypoint: {waypoint}")}}
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

    /// <summary>
    /// A Service on <paramref name="port"/> → 8080 (or the TCP echo's 9000 with <paramref name="tcp"/>), its
    /// ServiceAccount and <paramref name="replicas"/> echo pods <c>&lt;name&gt;-0</c>, <c>-1</c>, ….
    /// </summary>
    public static string EchoService(string name, string ns, string? waypoint = null, int replicas = 1, int port = 80, string portName = "http", bool tcp = false) =>
        $$"""
        apiVersion: v1
        kind: ServiceAccount
        metadata:
          name: {{name}}
          namespace: {{ns}}
        ---
        apiVersion: v1
        kind: Service
        metadata:
          name: {{name}}
          namespace: {{ns}}
        {{(waypoint is null ? "" : $"  labels:\n    istio.io/use-waypoint: {waypoint}")}}
        spec:
          selector:
            app: {{name}}
          ports:
          - name: {{portName}}
            port: {{port}}
            targetPort: {{(tcp ? 9000 : 8080)}}
        ---

        """ + string.Concat(Enumerable.Range(0, replicas).Select(i => EchoPod($"{name}-{i}", ns, name, tcp)));

    private static string EchoPod(string pod, string ns, string app, bool tcp) => $$"""
        apiVersion: v1
        kind: Pod
        metadata:
          name: {{pod}}
          namespace: {{ns}}
          labels:
            app: {{app}}
        spec:
          serviceAccountName: {{app}}
          terminationGracePeriodSeconds: 1
          containers:
          - name: echo
            image: waypoint/echo
            args: ["--http-port", "8080"{{(tcp ? ", \"--tcp-port\", \"9000\"" : "")}}]
            ports:
            - containerPort: 8080
        {{(tcp ? "    - containerPort: 9000" : "")}}
            env:
            - name: POD_NAME
              valueFrom:
                fieldRef: {fieldPath: metadata.name}
            - name: POD_NAMESPACE
              valueFrom:
                fieldRef: {fieldPath: metadata.namespace}
            readinessProbe:
              httpGet: {path: /ready, port: 8080}
              periodSeconds: 1
        ---

        """;

    /// <summary>An HTTPRoute named after <paramref name="service"/> (GAMMA: its parent is the Service) with the given rules (list items indented by 2).</summary>
    public static string Route(string service, string ns, string rules, string? name = null) => $$"""
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
