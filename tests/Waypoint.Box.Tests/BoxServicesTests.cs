using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using k8s;
using k8s.Models;
using Waypoint.Box.Network;
using Waypoint.Box.Services;
using Waypoint.TestKit.Box;

namespace Waypoint.Box.Tests;

/// <summary>
/// What pods get from the box as from a cluster: the API server through the <c>kubernetes</c> Service, Service VIPs
/// (the kube-proxy role), cluster DNS with the pod's search path, and istiod by its Service name, all seen from
/// inside pods (their network namespace, and their container's mount namespace for /etc/resolv.conf).
/// </summary>
[Collection(BoxCollectionDefinition.Name)]
public sealed class BoxServicesTests(SharedBoxFixture box) : IClassFixture<SharedBoxFixture>
{
    private const string ServiceAccountDirectory = "/var/run/secrets/kubernetes.io/serviceaccount";

    [Fact]
    public async Task The_kubernetes_EndpointSlice_points_at_the_node_IP()
    {
        using var client = box.Connection.CreateKubernetesClient();
        var slice = await client.DiscoveryV1.ReadNamespacedEndpointSliceAsync("kubernetes", "default");
        var endpoint = Assert.Single(slice.Endpoints);
        Assert.Equal([BoxNetwork.NodeIp.ToString()], endpoint.Addresses);
        Assert.Equal(6443, Assert.Single(slice.Ports).Port);
        var service = await client.CoreV1.ReadNamespacedServiceAsync("kubernetes", "default");
        Assert.Equal(BoxNetwork.KubernetesServiceIp.ToString(), service.Spec.ClusterIP);
        var dns = await client.CoreV1.ReadNamespacedServiceAsync("kube-dns", "kube-system");
        Assert.Equal(BoxNetwork.ClusterDnsIp.ToString(), dns.Spec.ClusterIP);
    }

    [Fact]
    public async Task A_pod_resolves_kubernetes_default_and_reaches_the_API_server_with_its_token()
    {
        using var client = box.Connection.CreateKubernetesClient();
        const string name = "api-probe";
        await BoxPods.CreateAsync(client, new V1Pod
        {
            Metadata = new V1ObjectMeta { Name = name },
            Spec = new V1PodSpec
            {
                RestartPolicy = "Never",
                Containers =
                [
                    new V1Container
                    {
                        Name = "probe",
                        Image = "waypoint/echo",
                        // Host tools in the pod's namespaces; the token goes in a header and is never printed.
                        Command =
                        [
                            "sh", "-c",
                            "getent hosts kubernetes.default.svc.cluster.local; " +
                            $"curl -sS -o /dev/null -w 'code=%{{http_code}}\\n' --cacert {ServiceAccountDirectory}/ca.crt " +
                            $"-H \"Authorization: Bearer $(cat {ServiceAccountDirectory}/token)\" https://kubernetes.default.svc/version; " +
                            "echo in-cluster=$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT",
                        ],
                    },
                ],
            },
        });

        var pod = await BoxPods.WaitForAsync(client, name, p => p.Status?.Phase is "Succeeded" or "Failed");
        using var stream = await client.CoreV1.ReadNamespacedPodLogAsync(name, "default", container: "probe");
        var logs = await new StreamReader(stream).ReadToEndAsync();
        Assert.True(pod.Status.Phase == "Succeeded", logs);
        Assert.Matches(@"(?m)^10\.96\.0\.1\s+kubernetes\.default\.svc\.cluster\.local$", logs);
        Assert.Contains("code=200", logs, StringComparison.Ordinal);
        Assert.Contains("in-cluster=10.96.0.1:443", logs, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_container_has_the_cluster_resolv_conf_and_names_outside_the_cluster_do_not_resolve()
    {
        using var client = box.Connection.CreateKubernetesClient();
        const string name = "resolv-probe";
        await BoxPods.CreateAsync(client, BoxPods.Echo(name));
        await BoxPods.WaitForReadyAsync(client, name);
        var pid = BoxPods.ContainerProcess(name);

        var resolvConf = await BoxPods.InPodAsync(pid, "cat", "/etc/resolv.conf");
        var outside = await BoxPods.InPodAsync(pid, "getent", "hosts", "example.com");

        Assert.True(resolvConf.Succeeded, resolvConf.ToString());
        Assert.Contains("search default.svc.cluster.local svc.cluster.local cluster.local", resolvConf.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("nameserver 10.96.0.10", resolvConf.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("options ndots:5", resolvConf.StandardOutput, StringComparison.Ordinal);
        Assert.False(outside.Succeeded, outside.ToString());
    }

    [Fact]
    public async Task A_Service_of_two_pods_is_reachable_by_VIP_and_name_from_another_pod_follows_its_endpoints_and_closes_when_deleted()
    {
        using var client = box.Connection.CreateKubernetesClient();
        const string app = "pair";
        var labels = new Dictionary<string, string> { ["app"] = app };
        await BoxPods.CreateAsync(client, BoxPods.Echo("pair-one", labels));
        await BoxPods.CreateAsync(client, BoxPods.Echo("pair-two", labels));
        await BoxPods.CreateAsync(client, BoxPods.Echo("pair-client"));
        var service = await client.CoreV1.CreateNamespacedServiceAsync(new V1Service
        {
            Metadata = new V1ObjectMeta { Name = app },
            // A named targetPort: each pod's "http" port, resolved per pod into the EndpointSlice.
            Spec = new V1ServiceSpec { Selector = labels, Ports = [new V1ServicePort { Name = "web", Port = 80, TargetPort = "http" }] },
        }, "default");
        var vip = new Uri($"http://{service.Spec.ClusterIP}/hello");
        await BoxPods.WaitForReadyAsync(client, "pair-one");
        await BoxPods.WaitForReadyAsync(client, "pair-two");
        await BoxPods.WaitForReadyAsync(client, "pair-client");
        var clientPid = BoxPods.ContainerProcess("pair-client");
        using var podNetwork = new BoxNetworkNamespace($"/proc/{clientPid}/ns/net");
        using var http = podNetwork.CreateHttpClient();

        // By VIP, new connections reach both pods (once the proxy has both endpoints).
        var seen = new HashSet<string>(StringComparer.Ordinal);
        Assert.True(await BoxPods.Eventually(async () =>
        {
            if (await TryAnswerAsync(http, vip) is { } pod)
            {
                seen.Add(pod);
            }

            return seen.SetEquals(["pair-one", "pair-two"]);
        }), $"from pair-client, {vip} answered only from [{string.Join(", ", seen)}]");

        // By name, through the cluster DNS and the pod's search path.
        var resolved = await BoxPods.InPodAsync(clientPid, "getent", "hosts", "pair.default.svc.cluster.local");
        Assert.Matches($@"^{System.Text.RegularExpressions.Regex.Escape(service.Spec.ClusterIP)}\s+pair\.default\.svc\.cluster\.local", resolved.StandardOutput);
        var byShortName = await BoxPods.InPodAsync(clientPid, "curl", "-sS", "-m", "10", "http://pair/hello");
        Assert.True(byShortName.Succeeded, byShortName.ToString());
        Assert.Contains("\"pod\":\"pair-", byShortName.StandardOutput.Replace(" ", "", StringComparison.Ordinal), StringComparison.Ordinal);

        // One endpoint deleted: new connections all go to the other.
        await client.CoreV1.DeleteNamespacedPodAsync("pair-one", "default", gracePeriodSeconds: 0);
        Assert.True(await BoxPods.Eventually(async () =>
        {
            for (var i = 0; i < 6; i++)
            {
                if (await TryAnswerAsync(http, vip) != "pair-two")
                {
                    return false;
                }
            }

            return true;
        }), "new connections still reached pair-one after it was deleted");

        // The Service deleted: its VIP port is closed.
        await client.CoreV1.DeleteNamespacedServiceAsync(app, "default");
        Assert.True(await BoxPods.Eventually(async () => await ConnectErrorAsync(podNetwork, new IPEndPoint(IPAddress.Parse(service.Spec.ClusterIP), 80)) == SocketError.ConnectionRefused),
            "the deleted Service's VIP still accepts connections");
        await client.CoreV1.DeleteCollectionNamespacedPodAsync("default", labelSelector: "app in (pair, pair-client)");
    }

    [Fact]
    public async Task An_ambient_enrolled_Service_is_left_to_ztunnel_while_its_plain_twin_is_proxied()
    {
        using var client = box.Connection.CreateKubernetesClient();
        const string app = "twins";
        var labels = new Dictionary<string, string> { ["app"] = app };
        await BoxPods.CreateAsync(client, BoxPods.Echo("twins-backend", labels));
        V1Service Twin(string name, string? mode) => new()
        {
            Metadata = new V1ObjectMeta { Name = name, Labels = mode is null ? null : new Dictionary<string, string> { [AmbientEnrollment.DataplaneModeLabel] = mode } },
            Spec = new V1ServiceSpec { Selector = labels, Ports = [new V1ServicePort { Name = "http", Port = 80, TargetPort = 8080 }] },
        };
        var plain = await client.CoreV1.CreateNamespacedServiceAsync(Twin("twins-plain", null), "default");
        var ambient = await client.CoreV1.CreateNamespacedServiceAsync(Twin("twins-ambient", AmbientEnrollment.Ambient), "default");
        await BoxPods.WaitForReadyAsync(client, "twins-backend");
        Assert.True(await BoxPods.Eventually(async () =>
        {
            var slices = await client.DiscoveryV1.ListNamespacedEndpointSliceAsync("default", labelSelector: "kubernetes.io/service-name=twins-ambient");
            return slices.Items.SelectMany(s => s.Endpoints ?? []).Any(e => e.Conditions?.Ready == true);
        }), "the ambient Service's EndpointSlice never listed its pod ready");

        // The plain twin answers (so the proxy has seen this endpoint); the ambient one, same endpoint, is not bound.
        using var http = box.Connection.Network.CreateHttpClient();
        Assert.True(await BoxPods.Eventually(async () => await TryAnswerAsync(http, new Uri($"http://{plain.Spec.ClusterIP}/hello")) == "twins-backend"),
            "the plain Service never answered");
        Assert.Equal(SocketError.ConnectionRefused, await ConnectErrorAsync(box.Connection.Network, new IPEndPoint(IPAddress.Parse(ambient.Spec.ClusterIP), 80)));

        // Opting out with the label `none` makes the proxy bind it.
        ambient.Metadata.Labels[AmbientEnrollment.DataplaneModeLabel] = AmbientEnrollment.None;
        await client.CoreV1.ReplaceNamespacedServiceAsync(ambient, ambient.Metadata.Name, "default");
        Assert.True(await BoxPods.Eventually(async () => await TryAnswerAsync(http, new Uri($"http://{ambient.Spec.ClusterIP}/hello")) == "twins-backend"),
            "the Service labelled none was never bound");
        await client.CoreV1.DeleteNamespacedServiceAsync("twins-plain", "default");
        await client.CoreV1.DeleteNamespacedServiceAsync("twins-ambient", "default");
        await client.CoreV1.DeleteNamespacedPodAsync("twins-backend", "default");
    }

    [Fact]
    public async Task Istiod_answers_TLS_by_its_Service_name_from_a_pod_with_a_certificate_for_that_name()
    {
        using var client = box.Connection.CreateKubernetesClient();
        const string name = "istiod-probe";
        await BoxPods.CreateAsync(client, BoxPods.Echo(name));
        V1ConfigMap? root = null;
        Assert.True(await BoxPods.Eventually(async () =>
        {
            root = (await client.CoreV1.ListNamespacedConfigMapAsync("default", fieldSelector: "metadata.name=istio-ca-root-cert")).Items.SingleOrDefault();
            return root is not null;
        }), "istiod never wrote istio-ca-root-cert into default");
        var rootPath = Path.Combine(box.Process.Directory, "istio-root.pem");
        await File.WriteAllTextAsync(rootPath, root!.Data["root-cert.pem"]);
        await BoxPods.WaitForReadyAsync(client, name);
        var pid = BoxPods.ContainerProcess(name);

        var tls = await BoxPods.InPodAsync(pid,
            "openssl", "s_client", "-connect", "istiod.istio-system.svc:15012", "-servername", "istiod.istio-system.svc",
            "-CAfile", rootPath, "-verify_hostname", "istiod.istio-system.svc", "-verify_return_error", "-alpn", "h2", "-brief");

        Assert.True(tls.Succeeded, tls.ToString());
        // -verify_hostname with -verify_return_error: OK only for a chain to the mesh root naming istiod.istio-system.svc.
        Assert.Contains("Verification: OK", tls.Output, StringComparison.Ordinal);
        var service = await client.CoreV1.ReadNamespacedServiceAsync("istiod", "istio-system");
        Assert.Equal(["grpc-xds:15010", "https-dns:15012", "https-webhook:443", "http-monitoring:15014"], service.Spec.Ports.Select(p => $"{p.Name}:{p.Port}"));
    }

    /// <summary>One GET on a new connection; the echo's pod name, or null when it failed.</summary>
    private static async Task<string?> TryAnswerAsync(HttpClient http, Uri uri)
    {
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, uri);
            request.Headers.ConnectionClose = true;
            using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            using var response = await http.SendAsync(request, limit.Token);
            using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(limit.Token));
            return json.RootElement.GetProperty("pod").GetString();
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or JsonException)
        {
            return null;
        }
    }

    private static async Task<SocketError?> ConnectErrorAsync(BoxNetworkNamespace network, IPEndPoint endPoint)
    {
        try
        {
            using var socket = await network.ConnectAsync(endPoint, CancellationToken.None);
            return null;
        }
        catch (SocketException ex)
        {
            return ex.SocketErrorCode;
        }
    }
}
