using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Waypoint.Agent;
using Waypoint.Agent.Ca;
using Waypoint.Local.Echo;
using Waypoint.TestKit.Pki;
using Waypoint.Ztunnel.Identity;
using Xunit.Abstractions;

namespace Waypoint.Ztunnel.Tests.Box;

/// <summary>
/// The node's ztunnel in a real box (istiod's WDS and CA, the real kubelet, one real Envoy bound inside the pods'
/// network namespaces): outbound capture of a Service VIP with HBONE to the echo pods, inbound HBONE that admits only
/// istiod-issued peers, and a Service labelled for a waypoint retargeted to the address istiod sends.
/// </summary>
[Collection(ZtunnelBoxTestsDefinition.Name)]
public sealed class ZtunnelBoxTests(ZtunnelBoxFixture box, ITestOutputHelper output) : IClassFixture<ZtunnelBoxFixture>
{
    private static readonly TimeSpan s_limit = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task A_request_from_a_client_pod_to_the_Service_VIP_reaches_an_echo_pod_through_HBONE_with_the_clients_identity()
    {
        using var cancel = new CancellationTokenSource(s_limit);
        var status = box.ReadStatus()!;
        var echo = status.Services.Single(s => s.Service == ZtunnelBoxFixture.EchoService);
        Assert.Equal(["echo-a", "echo-b"], status.Services.Single(s => s.Key == echo.Key).Endpoints.Select(e => status.Pods.Single(p => e.StartsWith(p.Address + ":", StringComparison.Ordinal)).Name).Order());

        using var clientNetwork = box.PodNetwork(status, "client");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        while (seen.Count < 2)
        {
            // A new client (so a new connection, a new tunnel) per request: the endpoints take turns. The client closes
            // first; see docs/ztunnel.md for an app that closes first (Connection: close).
            using var http = clientNetwork.CreateHttpClient();
            // Plain HTTP from the app to the VIP; the ztunnel's listener in the client's namespace takes it.
            var reply = EchoReply.Parse(await http.GetStringAsync(new Uri($"http://{echo.Vip}/hello"), cancel.Token));
            Assert.Contains(reply.Pod, (string[])["echo-a", "echo-b"]);
            Assert.Equal("/hello", reply.Path);
            seen.Add(reply.Pod);
        }

        // Each echo pod's inbound listener logged the CONNECT: authority podIP:8080, peer = the client's SPIFFE id.
        foreach (var pod in status.Pods.Where(p => p.Name.StartsWith("echo-", StringComparison.Ordinal)))
        {
            await WaitForAccessLogAsync($"inbound pod=zt/{pod.Name} method=CONNECT authority={pod.Address}:8080 peer=spiffe://cluster.local/ns/zt/sa/client upstream={pod.Address}:8080 code=200", cancel.Token);
        }
    }

    [Fact]
    public async Task Inbound_HBONE_admits_a_peer_with_an_istiod_certificate_of_another_ServiceAccount_and_refuses_one_without_or_with_a_foreign_one()
    {
        using var cancel = new CancellationTokenSource(s_limit);
        var status = box.ReadStatus()!;
        var echoA = status.Pods.Single(p => p.Name == "echo-a");
        var echoB = status.Pods.Single(p => p.Name == "echo-b");
        using var directory = new TestDirectory();
        var rootPath = Path.Combine(directory.Path, "root-cert.pem");
        await File.WriteAllTextAsync(rootPath, await box.MeshRootAsync(), cancel.Token);
        var roots = new X509Certificate2Collection();
        roots.ImportFromPemFile(rootPath);
        using var tester = await IssueAsync("tester", rootPath, directory.Path, cancel.Token);

        var admitted = await HboneTestClient.GetThroughTunnelAsync(box.Connection.Network, ZtunnelBoxFixture.Hbone(echoA), $"{echoA.Address}:8080", tester, roots, cancel.Token);
        Assert.Equal(200, admitted.Status);
        Assert.Contains("\"pod\": \"echo-a\"", admitted.Body, StringComparison.Ordinal);
        await WaitForAccessLogAsync($"inbound pod=zt/echo-a method=CONNECT authority={echoA.Address}:8080 peer=spiffe://cluster.local/ns/zt/sa/tester", cancel.Token);

        // The inbound listener of echo-a tunnels only to echo-a.
        var elsewhere = await HboneTestClient.GetThroughTunnelAsync(box.Connection.Network, ZtunnelBoxFixture.Hbone(echoA), $"{echoB.Address}:8080", tester, roots, cancel.Token);
        Assert.Equal(404, elsewhere.Status);
        Assert.DoesNotContain("echo-b", elsewhere.Body, StringComparison.Ordinal);

        await Assert.ThrowsAnyAsync<IOException>(() => HboneTestClient.GetThroughTunnelAsync(box.Connection.Network, ZtunnelBoxFixture.Hbone(echoA), $"{echoA.Address}:8080", null, roots, cancel.Token));
        using var foreign = SelfSigned("spiffe://cluster.local/ns/zt/sa/tester");
        await Assert.ThrowsAnyAsync<IOException>(() => HboneTestClient.GetThroughTunnelAsync(box.Connection.Network, ZtunnelBoxFixture.Hbone(echoA), $"{echoA.Address}:8080", foreign, roots, cancel.Token));
    }

    [Fact]
    public async Task Labelling_a_Service_use_waypoint_retargets_its_outbound_listeners_to_the_waypoint_istiod_names_and_none_returns_it()
    {
        using var cancel = new CancellationTokenSource(s_limit);
        const string gateway = """
            apiVersion: gateway.networking.k8s.io/v1
            kind: GatewayClass
            metadata: {name: zt-waypoint}
            spec: {controllerName: waypoint.dev/controller}
            ---
            apiVersion: gateway.networking.k8s.io/v1
            kind: Gateway
            metadata:
              name: waypoint
              namespace: zt
              labels: {istio.io/waypoint-for: service}
            spec:
              gatewayClassName: zt-waypoint
              listeners:
              - {name: mesh, port: 15008, protocol: HBONE}
            """;
        var report = await box.Applier.ApplyYamlAsync(gateway, "gateway.yaml", cancel.Token);
        Assert.True(report.Succeeded, string.Join("\n", report.Failures));
        // Our controller writes status.addresses once a waypoint pod is ready; here the test plays it (no waypoint pod runs).
        using var admin = box.Connection.CreateKubernetesClient();
        await admin.CustomObjects.PatchNamespacedCustomObjectStatusAsync(
            new V1Patch("""{"status":{"addresses":[{"type":"IPAddress","value":"10.244.7.7"}]}}""", V1Patch.PatchType.MergePatch),
            "gateway.networking.k8s.io", "v1", "zt", "gateways", "waypoint", cancellationToken: cancel.Token);

        var before = box.ReadStatus()!.ConfigGeneration;
        var labelled = Stopwatch.StartNew();
        await box.Applier.ApplyYamlAsync(ZtunnelBoxFixture.EchoServiceYaml("echo-wp", "waypoint"), "echo-wp.yaml", cancel.Token);
        var bound = await box.WaitForStatusAsync(s => s.Services.Any(x => x.Service == ZtunnelBoxFixture.WaypointBoundService && x.Waypoint == "10.244.7.7:15008"));
        output.WriteLine($"label applied → ztunnel config with the waypoint written: {labelled.ElapsedMilliseconds} ms (config generation {before} → {bound.ConfigGeneration})");

        var route = bound.Services.Single(x => x.Service == ZtunnelBoxFixture.WaypointBoundService);
        Assert.Empty(route.Endpoints);
        var listeners = await File.ReadAllTextAsync(box.Paths.Listeners, cancel.Token);
        Assert.Contains($"\"hostname\": \"{route.Vip}:80\"", listeners, StringComparison.Ordinal);
        Assert.Contains("\"cluster\": \"waypoint|zt~client|10.244.7.7:15008\"", listeners, StringComparison.Ordinal);

        // Envoy took it without a restart: the cluster toward the waypoint is live in its config.
        using var http = box.Connection.Network.CreateHttpClient();
        await WaitForAsync(async () => (await http.GetStringAsync(new Uri("http://127.0.0.1:15000/clusters"), cancel.Token)).Contains("waypoint|zt~client|10.244.7.7:15008::10.244.7.7:15008", StringComparison.Ordinal), cancel.Token);
        output.WriteLine($"label applied → Envoy serving the waypoint cluster: {labelled.ElapsedMilliseconds} ms");

        await box.Applier.ApplyYamlAsync(ZtunnelBoxFixture.EchoServiceYaml("echo-wp", "none"), "echo-wp.yaml", cancel.Token);
        var direct = await box.WaitForStatusAsync(s => s.Services.Any(x => x.Service == ZtunnelBoxFixture.WaypointBoundService && x.Waypoint is null && x.Endpoints.Count == 2));
        using var clientNetwork = box.PodNetwork(direct, "client");
        using var client = clientNetwork.CreateHttpClient();
        var vip = direct.Services.Single(x => x.Service == ZtunnelBoxFixture.WaypointBoundService).Vip;
        await WaitForAsync(async () =>
        {
            try
            {
                return EchoReply.Parse(await client.GetStringAsync(new Uri($"http://{vip}/again"), cancel.Token)).Path == "/again";
            }
            catch (HttpRequestException)
            {
                return false;
            }
        }, cancel.Token);
    }

    [Fact]
    public async Task A_pod_added_to_the_ambient_namespace_is_captured_and_served_and_its_removal_takes_it_out_of_the_config()
    {
        using var cancel = new CancellationTokenSource(s_limit);
        const string pod = """
            apiVersion: v1
            kind: Pod
            metadata:
              name: extra
              namespace: zt
              labels: {app: extra}
            spec:
              serviceAccountName: tester
              terminationGracePeriodSeconds: 1
              containers:
              - name: echo
                image: waypoint/echo
                args: ["--http-port", "8080"]
                env:
                - name: POD_NAME
                  valueFrom:
                    fieldRef: {fieldPath: metadata.name}
                readinessProbe:
                  httpGet: {path: /, port: 8080}
                  periodSeconds: 1
            ---
            apiVersion: v1
            kind: Service
            metadata:
              name: extra
              namespace: zt
            spec:
              selector: {app: extra}
              ports:
              - {name: http, port: 8081, targetPort: 8080}
            """;
        var applier = new Waypoint.Box.Apply.BoxApplier(box.Connection.CreateAdminHttpClient(), "ztunnel-test-extra", ZtunnelBoxFixture.Ns);
        Assert.True((await applier.ApplyYamlAsync(pod, "extra.yaml", cancel.Token)).Succeeded);
        var added = await box.WaitForStatusAsync(s => s.Pods.Any(p => p.Name == "extra" && p.Captured)
            && s.Services.Any(x => x.Service == "zt/extra.zt.svc.cluster.local" && x.Endpoints.Count == 1)
            && s.Identities.Contains("spiffe://cluster.local/ns/zt/sa/tester"));
        var extra = added.Pods.Single(p => p.Name == "extra");
        Assert.Contains("\"name\": \"inbound|zt/extra\"", await File.ReadAllTextAsync(box.Paths.Listeners, cancel.Token), StringComparison.Ordinal);
        Assert.True(File.Exists(box.Paths.SecretFile("zt~tester")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(box.Paths.SecretFile("zt~tester")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(box.Paths.KeyDirectory));

        // The other pods reach it at once through the new VIP (their namespaces got its route and listener).
        using var clientNetwork = box.PodNetwork(added, "client");
        using var http = clientNetwork.CreateHttpClient();
        var vip = added.Services.Single(x => x.Service == "zt/extra.zt.svc.cluster.local").Vip;
        // The config file names the new listeners at once; Envoy binds them when it has read the file (a moment
        // later), so until then the VIP refuses.
        await WaitForAsync(async () =>
        {
            try
            {
                return EchoReply.Parse(await http.GetStringAsync(new Uri($"http://{vip}:8081/x"), cancel.Token)).Pod == "extra";
            }
            catch (HttpRequestException ex) when (ex.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionRefused })
            {
                return false;
            }
        }, cancel.Token, () => $"the VIP {vip}:8081 never answered from pod extra");
        await WaitForAccessLogAsync($"inbound pod=zt/extra method=CONNECT authority={extra.Address}:8080 peer=spiffe://cluster.local/ns/zt/sa/client", cancel.Token);

        using var admin = box.Connection.CreateKubernetesClient();
        await admin.CoreV1.DeleteNamespacedPodAsync("extra", ZtunnelBoxFixture.Ns, cancellationToken: cancel.Token);
        await box.WaitForStatusAsync(s => s.Pods.All(p => p.Name != "extra") && s.Services.All(x => x.Service != "zt/extra.zt.svc.cluster.local"));
        Assert.DoesNotContain("inbound|zt/extra", await File.ReadAllTextAsync(box.Paths.Listeners, cancel.Token), StringComparison.Ordinal);
        // The node writes the config (and the status) first and removes unused certificates after it, so that Envoy
        // never names a file that is gone: the removal follows the status by a moment.
        await WaitForAsync(() => Task.FromResult(!File.Exists(box.Paths.SecretFile("zt~tester"))), cancel.Token, () => "the certificate of a ServiceAccount without pods is removed");
    }

    private async Task<X509Certificate2> IssueAsync(string serviceAccount, string rootPath, string directory, CancellationToken cancellationToken)
    {
        using var api = box.Connection.CreateAdminHttpClient();
        var tokens = new KubernetesTokens(api);
        var tokenPath = Path.Combine(directory, serviceAccount + ".token");
        await File.WriteAllTextAsync(tokenPath, await tokens.RequestTokenAsync(ZtunnelBoxFixture.Ns, serviceAccount, TimeSpan.FromMinutes(10), cancellationToken), cancellationToken);
        var options = new AgentOptions { CaAddress = "istiod.istio-system.svc:15012", RootCertPath = rootPath, TokenPath = tokenPath, Namespace = ZtunnelBoxFixture.Ns, ServiceAccount = serviceAccount };
        using var ca = new IstioCaClient(Options.Create(options), NullLogger<IstioCaClient>.Instance, handler =>
            handler.ConnectCallback = async (_, ct) => new NetworkStream(await box.Connection.Network.ConnectAsync(new IPEndPoint(IPAddress.Loopback, 15012), ct), ownsSocket: true));
        var issued = await IstioCertificates.IssueAsync(ca, $"spiffe://cluster.local/ns/{ZtunnelBoxFixture.Ns}/sa/{serviceAccount}", TimeSpan.FromHours(1), rootPath, DateTimeOffset.UtcNow, cancellationToken);
        using var leaf = X509Certificate2.CreateFromPem(issued.Certificate.CertificateChainPem, issued.PrivateKeyPem);
        return X509CertificateLoader.LoadPkcs12(leaf.Export(X509ContentType.Pkcs12), null);
    }

    private static X509Certificate2 SelfSigned(string spiffeId)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName(string.Empty), key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(new Uri(spiffeId));
        request.CertificateExtensions.Add(san.Build(critical: true));
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1));
        return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null);
    }

    private async Task WaitForAccessLogAsync(string line, CancellationToken cancellationToken) =>
        await WaitForAsync(() => Task.FromResult(File.Exists(box.Paths.AccessLog) && File.ReadAllText(box.Paths.AccessLog).Contains(line, StringComparison.Ordinal)), cancellationToken, () => $"access log never had '{line}':\n{(File.Exists(box.Paths.AccessLog) ? File.ReadAllText(box.Paths.AccessLog) : "(none)")}");

    private static async Task WaitForAsync(Func<Task<bool>> condition, CancellationToken cancellationToken, Func<string>? describe = null)
    {
        while (!await condition())
        {
            if (cancellationToken.IsCancellationRequested)
            {
                Assert.Fail(describe?.Invoke() ?? "the condition never held");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(50), CancellationToken.None);
        }
    }
}
