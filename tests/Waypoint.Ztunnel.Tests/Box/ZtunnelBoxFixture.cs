using System.Net;
using System.Text.Json.Nodes;
using Waypoint.Box.Apply;
using Waypoint.Box.Network;
using Waypoint.TestKit.Box;
using Waypoint.Ztunnel.Config;
using Waypoint.Ztunnel.Hosting;

namespace Waypoint.Ztunnel.Tests.Box;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ZtunnelBoxTestsDefinition
{
    public const string Name = "Ztunnel box";
}

/// <summary>
/// One box (istiod, node, ztunnel) with an ambient namespace <c>zt</c>: Service <c>echo</c> over pods echo-a and echo-b
/// (ServiceAccount echo), Service <c>echo-wp</c> over the same pods (the waypoint test labels it), and a client pod
/// (ServiceAccount client) that runs <c>sleep</c>. Ready once the ztunnel reports every pod captured and both endpoints.
/// </summary>
public sealed class ZtunnelBoxFixture : SharedBoxFixture
{
    public const string Ns = "zt";
    public const string EchoService = Ns + "/echo." + Ns + ".svc.cluster.local";
    public const string WaypointBoundService = Ns + "/echo-wp." + Ns + ".svc.cluster.local";
    private static readonly TimeSpan s_limit = TimeSpan.FromMinutes(3);

    public ZtunnelPaths Paths => new(BoxZtunnel.RootOf(Connection.State.WorkDirectory));

    public BoxApplier Applier { get; private set; } = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        Applier = new BoxApplier(Connection.CreateAdminHttpClient(), "ztunnel-test", Ns);
        var report = await Applier.ApplyYamlAsync(Mesh, "zt.yaml", CancellationToken.None);
        Assert.True(report.Succeeded, string.Join("\n", report.Failures));
        await WaitForStatusAsync(s => s.Pods.Count == 3 && s.Pods.All(p => p.Captured)
            && s.Services.FirstOrDefault(x => x.Service == EchoService)?.Endpoints.Count == 2
            && s.Services.Any(x => x.Service == WaypointBoundService));
    }

    public ZtunnelStatus? ReadStatus() => File.Exists(Paths.Status) ? ZtunnelStatus.Parse(File.ReadAllText(Paths.Status)) : null;

    /// <summary>Polls status.json (the ztunnel rewrites it with every config) until <paramref name="predicate"/> holds.</summary>
    public async Task<ZtunnelStatus> WaitForStatusAsync(Func<ZtunnelStatus, bool> predicate)
    {
        using var limit = new CancellationTokenSource(s_limit);
        while (true)
        {
            try
            {
                if (ReadStatus() is { } status && predicate(status))
                {
                    return status;
                }
            }
            catch (Exception ex) when (ex is IOException or System.Text.Json.JsonException)
            {
                // replaced while read: next round
            }

            await Task.Delay(TimeSpan.FromMilliseconds(50), limit.Token);
        }
    }

    /// <summary>The pod's network namespace, reached through the box process's mount namespace (the node's bind mount lives there).</summary>
    public BoxNetworkNamespace PodNetwork(ZtunnelStatus status, string pod) =>
        new(Connection.State.OutsidePath(status.Pods.Single(p => p.Name == pod).NetworkNamespace));

    public async Task<string> MeshRootAsync()
    {
        using var admin = Connection.CreateAdminHttpClient();
        var map = JsonNode.Parse(await admin.GetStringAsync(new Uri($"/api/v1/namespaces/{Ns}/configmaps/istio-ca-root-cert", UriKind.Relative)))!;
        return map["data"]!["root-cert.pem"]!.GetValue<string>();
    }

    public static IPEndPoint Hbone(PodStatus pod) => new(IPAddress.Parse(pod.Address), 15008);

    public static string EchoServiceYaml(string name, string? useWaypoint) => $$"""
        apiVersion: v1
        kind: Service
        metadata:
          name: {{name}}
          namespace: {{Ns}}
          labels: {{Labels(useWaypoint)}}
        spec:
          selector: {app: echo}
          ports:
          - {name: http, port: 80, targetPort: 8080}
        """;

    private static string Labels(string? useWaypoint) => useWaypoint is null ? "{}" : "{istio.io/use-waypoint: " + useWaypoint + "}";

    private static string EchoPod(string name) => $$"""
        apiVersion: v1
        kind: Pod
        metadata:
          name: {{name}}
          namespace: {{Ns}}
          labels: {app: echo}
        spec:
          serviceAccountName: echo
          terminationGracePeriodSeconds: 2
          containers:
          - name: echo
            image: waypoint/echo
            args: ["--http-port", "8080"]
            env:
            - name: POD_NAME
              valueFrom:
                fieldRef: {fieldPath: metadata.name}
            - name: POD_NAMESPACE
              valueFrom:
                fieldRef: {fieldPath: metadata.namespace}
            readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}
        """;

    private static string Mesh => string.Join("\n---\n",
        $$"""
        apiVersion: v1
        kind: Namespace
        metadata:
          name: {{Ns}}
          labels: {istio.io/dataplane-mode: ambient}
        """,
        $"apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: echo, namespace: {Ns}}}",
        $"apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: client, namespace: {Ns}}}",
        $"apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: tester, namespace: {Ns}}}",
        EchoServiceYaml("echo", null),
        EchoServiceYaml("echo-wp", null),
        EchoPod("echo-a"),
        EchoPod("echo-b"),
        $$"""
        apiVersion: v1
        kind: Pod
        metadata:
          name: client
          namespace: {{Ns}}
        spec:
          serviceAccountName: client
          terminationGracePeriodSeconds: 1
          containers:
          - name: client
            image: waypoint/echo
            command: [sleep, infinity]
        """);
}
