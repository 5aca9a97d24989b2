using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Runtime.Versioning;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.Json.Nodes;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Waypoint.Box.Apply;
using Waypoint.Controller.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Waypoint.Controller.Tests.OnTheBox;

/// <summary>
/// The product, unchanged, on the box: installed from <c>manifests/install</c>, the controller runs as two pods of the
/// box's node (in-cluster config from the kubelet's environment and projected token, its xDS certificate from istiod
/// over the istiod Service, leader election), and a waypoint Gateway gets pods whose agent obtains the workload
/// certificate from istiod and whose Envoy reads its listeners from the controller's xDS Service. Every claim is
/// checked from outside: the API, the pods' own credentials, and the pods' ports from the box's network namespace.
/// </summary>
[Collection(OnTheBoxTests.Name)]
[SupportedOSPlatform("linux")]
public sealed partial class ProductOnTheBoxTests(ProductBoxFixture box, ITestOutputHelper output) : IClassFixture<ProductBoxFixture>
{
    private const string ControllerNs = ProductBoxFixture.ControllerNamespace;
    private const string ControllerUser = "system:serviceaccount:" + ControllerNs + ":" + ProductBoxFixture.ControllerServiceAccount;
    private const string Gateway = "gateway.networking.k8s.io";

    /// <summary>Safety net for pods starting on a shared 2-core machine, not a timed assertion.</summary>
    private static readonly TimeSpan s_limit = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task The_Controller_Pods_Are_Ready_And_Act_As_Their_ServiceAccount_With_Only_The_Shipped_Rights()
    {
        var pods = await WaitForDeploymentPodsAsync(ControllerNs, "waypoint-controller", ProductBoxFixture.ControllerSelector, replicas: 2);
        foreach (var pod in pods)
        {
            Assert.Equal(ProductBoxFixture.ControllerServiceAccount, pod.Spec.ServiceAccountName);
            Assert.StartsWith("10.244.1.", pod.Status.PodIP, StringComparison.Ordinal);
        }

        // Leader election ran inside a pod: only the pods' credentials may write this Lease, and the holder is a pod.
        var lease = await Eventually.ValueAsync(async () => await TryAsync(() => box.Admin.CoordinationV1.ReadNamespacedLeaseAsync("waypoint-controller", ControllerNs)) is { Spec.HolderIdentity: { } holder } l
            && pods.Any(p => holder.StartsWith(p.Metadata.Name + "_", StringComparison.Ordinal)) ? l : null, "a controller pod to hold the Lease", s_limit);
        output.WriteLine($"Lease holder {lease.Spec.HolderIdentity}");

        // The credential the kubelet gave the pod authenticates as the controller's ServiceAccount, bound to that pod.
        var pod0 = pods[0];
        var token = box.ReadProjectedToken(pod0);
        var self = await box.ReviewAsTokenAsync(token, "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            new { apiVersion = "authentication.k8s.io/v1", kind = "SelfSubjectReview" });
        var user = self.GetProperty("status").GetProperty("userInfo");
        Assert.Equal(ControllerUser, user.GetProperty("username").GetString());
        Assert.Equal(pod0.Metadata.Name, user.GetProperty("extra").GetProperty("authentication.kubernetes.io/pod-name")[0].GetString());

        // `kubectl auth can-i` with that credential: what rbac.yaml grants, and nothing it does not.
        Assert.True(await CanAsync(token, "create", "coordination.k8s.io", "leases", ControllerNs));
        Assert.True(await CanAsync(token, "update", "coordination.k8s.io", "leases", ControllerNs));
        Assert.True(await CanAsync(token, "patch", "apps", "deployments", "any-namespace"));
        Assert.True(await CanAsync(token, "update", Gateway, "gateways", "any-namespace", subresource: "status"));
        Assert.False(await CanAsync(token, "update", Gateway, "gateways", "any-namespace"));
        Assert.False(await CanAsync(token, "list", "", "secrets", ControllerNs));
        Assert.False(await CanAsync(token, "delete", "apps", "deployments", "any-namespace"));
        Assert.False(await CanAsync(token, "update", "coordination.k8s.io", "leases", "default"));
        Assert.False(await CanAsync(token, "create", "", "pods", ControllerNs));
    }

    [Fact]
    public async Task Each_Controller_Pod_Serves_Xds_With_Its_Mesh_Certificate_From_Istiod()
    {
        var pods = await WaitForDeploymentPodsAsync(ControllerNs, "waypoint-controller", ProductBoxFixture.ControllerSelector, replicas: 2);
        var root = await IstioRootAsync(ControllerNs);
        foreach (var pod in pods)
        {
            using var served = await ServerCertificateAsync(IPAddress.Parse(pod.Status.PodIP), 15012, "waypoint-xds.waypoint-system.svc", root);
            AssertIssuedByIstiod(served, root, $"spiffe://cluster.local/ns/{ControllerNs}/sa/{ProductBoxFixture.ControllerServiceAccount}");

            // istiod's monitoring port, as a Prometheus following the pod's annotations scrapes it.
            Assert.Equal("15014", pod.Metadata.Annotations["prometheus.io/port"]);
            using var http = box.Connection.Network.CreateHttpClient();
            var metrics = await http.GetStringAsync(new Uri($"http://{pod.Status.PodIP}:15014/metrics"));
            Assert.Contains("# TYPE waypoint_controller_queue_depth gauge", metrics, StringComparison.Ordinal);
            Assert.Contains("# TYPE waypoint_controller_leader gauge", metrics, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_Waypoint_Gateway_Gets_Ready_Pods_Whose_Envoy_Serves_Hbone_With_Istiods_Certificate_And_Becomes_Programmed()
    {
        const string ns = "product-waypoint";
        await ApplyAsync(ns, $$"""
            apiVersion: v1
            kind: Namespace
            metadata:
              name: {{ns}}
              labels: {istio.io/use-waypoint: waypoint}
            ---
            apiVersion: gateway.networking.k8s.io/v1
            kind: Gateway
            metadata: {name: waypoint, namespace: {{ns}}, labels: {istio.io/waypoint-for: service} }
            spec:
              gatewayClassName: kgateway-waypoint
              listeners:
              - {name: mesh, port: 15008, protocol: HBONE}
            """);

        // What the controller, in its pod, created.
        await Eventually.ValueAsync(() => TryAsync(() => box.Admin.CoreV1.ReadNamespacedServiceAccountAsync("waypoint", ns)), "the waypoint ServiceAccount", s_limit);
        var service = await Eventually.ValueAsync(() => TryAsync(() => box.Admin.CoreV1.ReadNamespacedServiceAsync("waypoint", ns)), "the waypoint Service", s_limit);
        var pods = await WaitForDeploymentPodsAsync(ns, "waypoint", "gateway.networking.k8s.io/gateway-name=waypoint", replicas: 1);
        var pod = pods[0];
        Assert.All(pod.Status.ContainerStatuses, c => Assert.True(c.Ready, $"container {c.Name} ready"));
        var podIp = IPAddress.Parse(pod.Status.PodIP);

        // Envoy's own readiness (its listener on 15021: the initial xDS fetch is over) and its control-plane stream.
        using var http = box.Connection.Network.CreateHttpClient();
        using (var ready = await http.GetAsync(new Uri($"http://{podIp}:15021/healthz/ready")))
        {
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        }

        var stats = await http.GetStringAsync(new Uri($"http://{podIp}:15090/stats/prometheus"));
        Assert.Contains("envoy_control_plane_connected_state{} 1", stats, StringComparison.Ordinal);

        // The pod's annotated scrape (istio-agent's 15020): Envoy's stats merged with the agent's certificate metrics.
        Assert.Equal("15020", pod.Metadata.Annotations["prometheus.io/port"]);
        var merged = await http.GetStringAsync(new Uri($"http://{podIp}:15020/stats/prometheus"));
        Assert.Contains("envoy_control_plane_connected_state{} 1", merged, StringComparison.Ordinal);
        Assert.Contains("\nwaypoint_agent_certificate_expiry_seconds{", merged, StringComparison.Ordinal);

        // The HBONE listener came over xDS from the controller, and its certificate over SDS from the agent, which got it
        // from istiod with the token the kubelet projected: the waypoint's SPIFFE identity, signed by istiod's root.
        var root = await IstioRootAsync(ns);
        using (var served = await ServerCertificateAsync(podIp, 15008, "waypoint." + ns, root))
        {
            AssertIssuedByIstiod(served, root, $"spiffe://cluster.local/ns/{ns}/sa/waypoint");
        }

        var gateway = await Eventually.ValueAsync(async () => await GetGatewayAsync(ns, "waypoint") is { } g && Condition(g, "Programmed") == "True" ? g : null,
            "Gateway Programmed=True", s_limit);
        var addresses = gateway["status"]!["addresses"]!.AsArray();
        Assert.Contains(addresses, a => a!["type"]!.GetValue<string>() == "IPAddress" && a["value"]!.GetValue<string>() == service.Spec.ClusterIP);
        Assert.Contains(addresses, a => a!["type"]!.GetValue<string>() == "Hostname" && a["value"]!.GetValue<string>() == $"waypoint.{ns}.svc.cluster.local");
        Assert.Equal("True", Condition(gateway, "Accepted"));
    }

    [Fact]
    public async Task An_Hbone_Request_Through_The_Waypoint_Pod_Reaches_The_Echo_Pod_Behind_The_Bound_Service()
    {
        using var mesh = await DeployMeshAsync("product-hbone");
        output.WriteLine(mesh.FirstResponse);
        Assert.Contains(mesh.Echo.Metadata.Name, mesh.FirstResponse, StringComparison.Ordinal);
    }

    /// <summary>
    /// Issue #12: <c>kubectl rollout restart</c> of the waypoint Deployment while a client sends one request after
    /// another, each to a ready endpoint of the waypoint Service as ztunnel picks them (its EndpointSlice): none fails.
    /// </summary>
    [Fact]
    public async Task A_Rolling_Restart_Of_The_Waypoint_Under_Steady_Requests_Fails_None()
    {
        const string ns = "product-rollout";
        using var mesh = await DeployMeshAsync(ns);
        var before = mesh.Waypoint.Metadata.Name;
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var served = new System.Collections.Concurrent.ConcurrentDictionary<string, int>(StringComparer.Ordinal);
        using var stop = new CancellationTokenSource();
        var load = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var endpoint = await ReadyWaypointEndpointAsync(ns);
                if (endpoint is null)
                {
                    failures.Enqueue($"{DateTime.UtcNow:HH:mm:ss.fff} no ready waypoint endpoint");
                    continue;
                }

                try
                {
                    using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                    var answer = await HboneClient.GetAsync(box.Connection.Network, endpoint, $"{mesh.Vip}:80", mesh.Client, mesh.Root, "echo", cancel.Token);
                    if (answer.StartsWith("HTTP/1.1 200", StringComparison.Ordinal))
                    {
                        served.AddOrUpdate(endpoint.Address.ToString(), 1, (_, n) => n + 1);
                    }
                    else
                    {
                        failures.Enqueue($"{DateTime.UtcNow:HH:mm:ss.fff} {endpoint}: {answer.Split('\n')[0]}");
                    }
                }
                catch (Exception ex) when (ex is HttpRequestException or IOException or OperationCanceledException or System.Security.Authentication.AuthenticationException or SocketException)
                {
                    failures.Enqueue($"{DateTime.UtcNow:HH:mm:ss.fff} {endpoint}: {ex.GetType().Name} {ex.Message}");
                }
            }
        });

        // What `kubectl rollout restart` writes.
        var restart = new JsonObject
        {
            ["spec"] = new JsonObject { ["template"] = new JsonObject { ["metadata"] = new JsonObject { ["annotations"] = new JsonObject { ["kubectl.kubernetes.io/restartedAt"] = DateTime.UtcNow.ToString("O") } } } },
        }.ToJsonString();
        await box.Admin.AppsV1.PatchNamespacedDeploymentAsync(new V1Patch(restart, V1Patch.PatchType.StrategicMergePatch), "waypoint", ns, fieldManager: "kubectl-rollout");

        try
        {
            // The old pod drained and gone, its successor Ready, and the successor serving requests.
            var after = (await Eventually.ValueAsync(async () =>
            {
                var pods = (await box.Admin.CoreV1.ListNamespacedPodAsync(ns, labelSelector: "gateway.networking.k8s.io/gateway-name=waypoint")).Items;
                return pods.Count == 1 && pods[0].Metadata.Name != before && IsReady(pods[0]) ? pods : null;
            }, "the restarted waypoint pod alone and Ready", s_limit))[0];
            await Eventually.TrueAsync(() => served.GetValueOrDefault(after.Status.PodIP) >= 5, $"requests served by the new pod {after.Metadata.Name}", s_limit);
        }
        finally
        {
            await stop.CancelAsync();
            await load;
        }

        output.WriteLine("served: " + string.Join(", ", served.Select(s => $"{s.Key} {s.Value}")));
        Assert.True(failures.IsEmpty, $"{failures.Count} of {failures.Count + served.Values.Sum()} requests failed:\n" + string.Join("\n", failures.Take(20)));
        Assert.True(served.Count >= 2, "requests were served by the old and the new pod");
    }

    /// <summary>A ready endpoint (pod IP:15008) of the waypoint Service, from its EndpointSlices, the first in their order.</summary>
    private async Task<IPEndPoint?> ReadyWaypointEndpointAsync(string ns)
    {
        var slices = await box.Admin.DiscoveryV1.ListNamespacedEndpointSliceAsync(ns, labelSelector: "kubernetes.io/service-name=waypoint");
        var address = slices.Items.SelectMany(s => s.Endpoints ?? []).Where(e => e.Conditions?.Ready == true).SelectMany(e => e.Addresses).Order(StringComparer.Ordinal).FirstOrDefault();
        return address is null ? null : new IPEndPoint(IPAddress.Parse(address), 15008);
    }

    private sealed record MeshThroughWaypoint(V1Pod Echo, V1Pod Waypoint, string Vip, X509Certificate2 Client, X509Certificate2 Root, string FirstResponse) : IDisposable
    {
        public void Dispose()
        {
            Client.Dispose();
            Root.Dispose();
        }
    }

    /// <summary>
    /// A namespace bound to its waypoint (<c>istio.io/use-waypoint</c>), an echo Deployment behind Service <c>echo</c>,
    /// the waypoint's pod Ready and the Gateway Programmed, a client certificate from istiod for ServiceAccount
    /// <c>client</c>, and the first 200 through the waypoint pod's HBONE listener to the echo Service's VIP:80.
    /// </summary>
    private async Task<MeshThroughWaypoint> DeployMeshAsync(string ns)
    {
        await ApplyAsync(ns, $$"""
            apiVersion: v1
            kind: Namespace
            metadata:
              name: {{ns}}
              labels: {istio.io/use-waypoint: waypoint}
            ---
            apiVersion: gateway.networking.k8s.io/v1
            kind: Gateway
            metadata: {name: waypoint, namespace: {{ns}}, labels: {istio.io/waypoint-for: service} }
            spec:
              gatewayClassName: kgateway-waypoint
              listeners:
              - {name: mesh, port: 15008, protocol: HBONE}
            ---
            apiVersion: v1
            kind: ServiceAccount
            metadata: {name: client, namespace: {{ns}} }
            ---
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: echo, namespace: {{ns}} }
            spec:
              replicas: 1
              selector: {matchLabels: {app: echo} }
              template:
                metadata: {labels: {app: echo} }
                spec:
                  containers:
                  - name: echo
                    image: waypoint/echo
                    args: [--http-port, "8080"]
                    env:
                    - name: POD_NAME
                      valueFrom: {fieldRef: {fieldPath: metadata.name} }
                    ports:
                    - {name: http, containerPort: 8080}
                    readinessProbe:
                      tcpSocket: {port: 8080}
                      periodSeconds: 1
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: echo, namespace: {{ns}} }
            spec:
              selector: {app: echo}
              ports:
              - {name: http, port: 80, targetPort: http}
            """);

        var echo = (await WaitForDeploymentPodsAsync(ns, "echo", "app=echo", replicas: 1))[0];
        var waypoint = (await WaitForDeploymentPodsAsync(ns, "waypoint", "gateway.networking.k8s.io/gateway-name=waypoint", replicas: 1))[0];
        await Eventually.ValueAsync(async () => await GetGatewayAsync(ns, "waypoint") is { } g && Condition(g, "Programmed") == "True" ? g : null, "Gateway Programmed=True", s_limit);
        var vip = (await box.Admin.CoreV1.ReadNamespacedServiceAsync("echo", ns)).Spec.ClusterIP;
        var root = await IstioRootAsync(ns);
        var client = await WorkloadCertificateAsync(ns, "client", root);

        // The waypoint learns the bound Service (and its endpoints) over xDS a moment after its pod is ready.
        string? last = null;
        var attempt = Eventually.ValueAsync(async () =>
        {
            try
            {
                using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                var answer = await HboneClient.GetAsync(box.Connection.Network, new IPEndPoint(IPAddress.Parse(waypoint.Status.PodIP), 15008), $"{vip}:80", client, root, "echo", cancel.Token);
                if (answer.StartsWith("HTTP/1.1 200", StringComparison.Ordinal))
                {
                    return answer;
                }

                last = answer;
                return null;
            }
            catch (Exception ex) when (ex is HttpRequestException or IOException or OperationCanceledException or System.Security.Authentication.AuthenticationException)
            {
                last = ex.Message;
                return null;
            }
        }, $"a 200 through the waypoint to {vip}:80", s_limit);
        string response;
        try
        {
            response = await attempt;
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException($"{ex.Message}; the last attempt: {last}\n{await EnvoyDiagnosisAsync(ns, waypoint)}", ex);
        }

        return new MeshThroughWaypoint(echo, waypoint, vip, client, root, response);
    }

    /// <summary>For a failure message: the waypoint Envoy's stats that say where a request went, and its containers' logs.</summary>
    private async Task<string> EnvoyDiagnosisAsync(string ns, V1Pod pod)
    {
        var text = new System.Text.StringBuilder();
        try
        {
            using var http = box.Connection.Network.CreateHttpClient();
            var stats = await http.GetStringAsync(new Uri($"http://{pod.Status.PodIP}:15090/stats/prometheus"));
            foreach (var line in stats.Split('\n').Where(l => !l.StartsWith('#') && (l.Contains("listener", StringComparison.Ordinal) || l.Contains("upstream_cx", StringComparison.Ordinal) || l.Contains("downstream_rq", StringComparison.Ordinal) || l.Contains("ssl", StringComparison.Ordinal)) && !l.EndsWith(" 0", StringComparison.Ordinal)).Take(80))
            {
                text.AppendLine(line);
            }
        }
        catch (HttpRequestException ex)
        {
            text.AppendLine("stats unavailable: " + ex.Message);
        }

        foreach (var container in new[] { "envoy", "agent" })
        {
            using var logs = await box.AdminHttp.GetAsync($"/api/v1/namespaces/{ns}/pods/{pod.Metadata.Name}/log?container={container}&tailLines=30");
            text.AppendLine($"--- {container} log ---").AppendLine(await logs.Content.ReadAsStringAsync());
        }

        return text.ToString();
    }

    /// <summary>A workload certificate for <paramref name="serviceAccount"/> from the real istiod, over its Service, with a TokenRequest token (audience istio-ca).</summary>
    private async Task<X509Certificate2> WorkloadCertificateAsync(string ns, string serviceAccount, X509Certificate2 root)
    {
        var directory = Directory.CreateTempSubdirectory("product-client-").FullName;
        try
        {
            var token = await box.Admin.CoreV1.CreateNamespacedServiceAccountTokenAsync(
                new Authenticationv1TokenRequest { Spec = new V1TokenRequestSpec { Audiences = ["istio-ca"], ExpirationSeconds = 3600 } }, serviceAccount, ns);
            await File.WriteAllTextAsync(Path.Combine(directory, "token"), token.Status.Token);
            await File.WriteAllTextAsync(Path.Combine(directory, "root-cert.pem"), root.ExportCertificatePem());
            var istiod = (await box.Admin.CoreV1.ReadNamespacedServiceAsync("istiod", "istio-system")).Spec.ClusterIP;
            using var ca = new Waypoint.Agent.Ca.IstioCaClient(
                Microsoft.Extensions.Options.Options.Create(new Waypoint.Agent.AgentOptions
                {
                    Namespace = ns,
                    ServiceAccount = serviceAccount,
                    RootCertPath = Path.Combine(directory, "root-cert.pem"),
                    TokenPath = Path.Combine(directory, "token"),
                }),
                Microsoft.Extensions.Logging.Abstractions.NullLogger<Waypoint.Agent.Ca.IstioCaClient>.Instance,
                handler => handler.ConnectCallback = async (_, ct) =>
                    new NetworkStream(await box.Connection.Network.ConnectAsync(new IPEndPoint(IPAddress.Parse(istiod), 15012), ct), ownsSocket: true));
            using var key = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest(new X500DistinguishedName(""), key, System.Security.Cryptography.HashAlgorithmName.SHA256);
            var san = new SubjectAlternativeNameBuilder();
            san.AddUri(new Uri($"spiffe://cluster.local/ns/{ns}/sa/{serviceAccount}"));
            request.CertificateExtensions.Add(san.Build(critical: true));
            var chain = await ca.CreateCertificateAsync(request.CreateSigningRequestPem(), TimeSpan.FromHours(1), CancellationToken.None);
            using var leaf = X509Certificate2.CreateFromPem(chain[0]);
            using var withKey = leaf.CopyWithPrivateKey(key);
            return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>The Deployment's pods once <paramref name="replicas"/> of them are Ready; on timeout the failure describes the Deployment, its pods and their logs.</summary>
    private async Task<IReadOnlyList<V1Pod>> WaitForDeploymentPodsAsync(string ns, string deployment, string selector, int replicas)
    {
        try
        {
            return await Eventually.ValueAsync(async () =>
            {
                var list = (await box.Admin.CoreV1.ListNamespacedPodAsync(ns, labelSelector: selector)).Items
                    .Where(p => p.Metadata.DeletionTimestamp is null).ToList();
                return list.Count == replicas && list.All(IsReady) ? list : null;
            }, $"{replicas} Ready pod(s) of Deployment {ns}/{deployment}", s_limit);
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException(ex.Message + "\n" + await box.DescribeAsync(ns, deployment), ex);
        }
    }

    private static bool IsReady(V1Pod pod) => pod.Status?.Conditions?.Any(c => c.Type == "Ready" && c.Status == "True") == true;

    private async Task<bool> CanAsync(string token, string verb, string group, string resource, string ns, string? subresource = null)
    {
        var review = await box.ReviewAsTokenAsync(token, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", new
        {
            apiVersion = "authorization.k8s.io/v1",
            kind = "SelfSubjectAccessReview",
            spec = new { resourceAttributes = new { verb, group, resource, subresource, @namespace = ns } },
        });
        return review.GetProperty("status").GetProperty("allowed").GetBoolean();
    }

    /// <summary>istiod's root as it publishes it in every namespace (ConfigMap istio-ca-root-cert).</summary>
    private async Task<X509Certificate2> IstioRootAsync(string ns)
    {
        var configMap = await Eventually.ValueAsync(() => TryAsync(() => box.Admin.CoreV1.ReadNamespacedConfigMapAsync("istio-ca-root-cert", ns)), $"istio-ca-root-cert in {ns}", s_limit);
        return X509Certificate2.CreateFromPem(configMap.Data["root-cert.pem"]);
    }

    /// <summary>
    /// The certificate a TLS server in the box presents, accepted only when it chains to <paramref name="root"/> (the
    /// handshake may then fail: these servers want a client certificate).
    /// </summary>
    private async Task<X509Certificate2> ServerCertificateAsync(IPAddress address, int port, string serverName, X509Certificate2 root)
    {
        X509Certificate2? presented = null;
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var socket = await box.Connection.Network.ConnectAsync(new IPEndPoint(address, port), cancel.Token);
        await using var stream = new SslStream(new NetworkStream(socket, ownsSocket: true), leaveInnerStreamOpen: false);
        try
        {
            await stream.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = serverName,
                ApplicationProtocols = [SslApplicationProtocol.Http2],
                RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                {
                    presented = certificate is null ? null : X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
                    return presented is not null && ChainsTo(presented, root);
                },
            }, cancel.Token);
        }
        catch (Exception ex) when ((ex is System.Security.Authentication.AuthenticationException or IOException) && presented is not null)
        {
            output.WriteLine($"{address}:{port} ended the handshake after presenting its certificate: {ex.Message}");
        }

        return presented ?? throw new InvalidOperationException($"{address}:{port} presented no certificate.");
    }

    private static void AssertIssuedByIstiod(X509Certificate2 leaf, X509Certificate2 root, string spiffeId)
    {
        var san = leaf.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
        Assert.Contains("URI:" + spiffeId, san.Format(false), StringComparison.Ordinal);
        Assert.True(ChainsTo(leaf, root), $"{spiffeId}'s certificate (issuer {leaf.Issuer}) does not chain to istiod's root {root.Subject}");
    }

    private static bool ChainsTo(X509Certificate2 leaf, X509Certificate2 root)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(root);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(leaf);
    }

    private async Task ApplyAsync(string ns, string yaml)
    {
        var applier = new BoxApplier(box.AdminHttp, "product-test", ns);
        var report = await applier.ApplyYamlAsync(yaml, ns + ".yaml", CancellationToken.None);
        Assert.True(report.Succeeded, string.Join("\n", report.Failures));
    }

    private async Task<JsonObject?> GetGatewayAsync(string ns, string name)
    {
        var found = await TryAsync(() => box.Admin.CustomObjects.GetNamespacedCustomObjectAsync(Gateway, "v1", ns, "gateways", name));
        return found is null ? null : JsonNode.Parse(JsonSerializer.Serialize(found))?.AsObject();
    }

    private static string? Condition(JsonObject obj, string type) =>
        (obj["status"]?["conditions"] as JsonArray)?.FirstOrDefault(c => c?["type"]?.GetValue<string>() == type)?["status"]?.GetValue<string>();

    private static async Task<T?> TryAsync<T>(Func<Task<T>> read)
        where T : class
    {
        try
        {
            return await read();
        }
        catch (HttpOperationException ex) when (ex.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }
}
