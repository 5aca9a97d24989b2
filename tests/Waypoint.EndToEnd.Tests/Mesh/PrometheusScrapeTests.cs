using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Waypoint.Local.Box;
using Waypoint.TestKit.Observability;

namespace Waypoint.EndToEnd.Tests.Mesh;

/// <summary>
/// A real Prometheus 3 scraping the mesh box as a user's would: inside the box's network namespace, Kubernetes service
/// discovery (role pod) against the box's API server with a ServiceAccount token bound to the ClusterRole a Prometheus
/// install carries, keeping the pods annotated <c>prometheus.io/scrape</c> and following their port and path
/// annotations. After requests from the ambient client pod through namespace demo's waypoint, its HTTP API must answer
/// the Istio request series (reporter, client principal, destination service and workload), Envoy's own stats and the
/// agent's from the waypoint pod's 15020, and the controller pods' 15014 series. The source workload comes from the
/// baggage the node's ztunnel sends for the client: the bare client pod is its own workload; requests from a
/// Deployment's pod name the Deployment, its <c>app</c>/<c>version</c> labels and istiod's cluster.
/// </summary>
[Collection(MeshBoxGroup.Name)]
public sealed class PrometheusScrapeTests(MeshBoxFixture mesh)
{
    /// <summary>The Deployment whose pod is the second client (in namespace demo, which has a waypoint for <c>bound</c>).</summary>
    public const string ClientDeploymentName = "metrics-client";

    public const string ClientDeployment = $$"""
        apiVersion: v1
        kind: ServiceAccount
        metadata: {name: {{ClientDeploymentName}}, namespace: {{BasicsMesh.Ns}}}
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: {{ClientDeploymentName}}, namespace: {{BasicsMesh.Ns}}}
        spec:
          replicas: 1
          selector:
            matchLabels: {app: {{ClientDeploymentName}}}
          template:
            metadata:
              labels: {app: {{ClientDeploymentName}}, version: v3}
            spec:
              serviceAccountName: {{ClientDeploymentName}}
              terminationGracePeriodSeconds: 1
              containers:
              - name: echo
                image: waypoint/echo
                args: ["--http-port", "8080"]
                readinessProbe:
                  httpGet: {path: /ready, port: 8080}
                  periodSeconds: 1
        ---

        """;

    private const string Monitoring = "monitoring";
    private const string Account = "prometheus";
    private static readonly TimeSpan s_limit = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task Prometheus_With_Pod_Discovery_Scrapes_Request_Metrics_With_The_Client_Principal_And_The_Control_Plane()
    {
        var token = await PrometheusTokenAsync();
        var state = mesh.Connection.State;
        string[] enter = state.NamespaceMode == "UserNamespace"
            ? ["nsenter", "--user", "--preserve-credentials", "--net", "--target", state.UnshareProcessId.ToString(CultureInfo.InvariantCulture), "--"]
            : ["nsenter", $"--net={state.NetworkNamespacePath}", "--"];
        await using var prometheus = await PrometheusProcess.StartAsync(
            directory =>
            {
                var kubeconfig = Path.Combine(directory, "kubeconfig");
                File.WriteAllText(kubeconfig, Kubeconfig(state.ApiServerUrl, state.CaCertificatePath, token));
                return Config(kubeconfig);
            },
            enter,
            mesh.Connection.Network.CreateHandler());

        const int requests = 5;
        for (var i = 0; i < requests; i++)
        {
            using var response = await mesh.Client.GetAsync(new Uri($"http://bound.{BasicsMesh.Ns}.svc.cluster.local/scraped/{i}"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        // The Deployment's pod, once the node's ztunnel captures it and its requests reach the waypoint.
        var deploymentRequests = await RequestFromDeploymentPodAsync(requests);

        // The request series, as the waypoint reported them and Prometheus stored them (with the pod's own target labels).
        var selector = $$"""{reporter="waypoint",source_principal="{{MeshBoxFixture.ClientIdentity}}",destination_service="bound.{{BasicsMesh.Ns}}.svc.cluster.local",response_code="200",namespace="{{BasicsMesh.Ns}}"}""";
        var series = await prometheus.WaitForQueryAsync("istio_requests_total" + selector, r => Sum(r) >= requests, s_limit);
        Assert.All(series, s =>
        {
            var labels = s!["metric"]!;
            Assert.Equal(LocalClientPod.Namespace, Label(labels, "source_workload_namespace"));
            // The bare client pod is its own workload (k8s.pod.name in ztunnel's baggage); app label client, no version label.
            Assert.Equal(LocalClientPod.Name, Label(labels, "source_workload"));
            Assert.Equal("client", Label(labels, "source_canonical_service"));
            Assert.Equal("latest", Label(labels, "source_canonical_revision"));
            Assert.Equal("Kubernetes", Label(labels, "source_cluster"));
            Assert.Equal("bound", Label(labels, "destination_service_name"));
            Assert.Equal(BasicsMesh.Ns, Label(labels, "destination_workload_namespace"));
            // Bare pods: each is its own workload, as Istio names them.
            Assert.Contains(Label(labels, "destination_workload"), new[] { "bound-0", "bound-1" });
            Assert.Equal("http", Label(labels, "request_protocol"));
            Assert.Equal("mutual_tls", Label(labels, "connection_security_policy"));
            Assert.Equal("-", Label(labels, "response_flags"));
            Assert.StartsWith("waypoint-", Label(labels, "pod"), StringComparison.Ordinal);
        });
        Assert.True(Sum(await prometheus.QueryAsync("istio_request_duration_milliseconds_count" + selector)) >= requests, "the duration histogram counted the requests");

        // The Deployment's pod: its workload is the Deployment (not the pod or its ReplicaSet), as istiod names it.
        var fromDeployment = $$"""{reporter="waypoint",source_workload="{{ClientDeploymentName}}",destination_service="bound.{{BasicsMesh.Ns}}.svc.cluster.local",response_code="200"}""";
        var deploymentSeries = await prometheus.WaitForQueryAsync("istio_requests_total" + fromDeployment, r => Sum(r) >= deploymentRequests, s_limit);
        Assert.All(deploymentSeries, s =>
        {
            var labels = s!["metric"]!;
            Assert.Equal($"spiffe://cluster.local/ns/{BasicsMesh.Ns}/sa/{ClientDeploymentName}", Label(labels, "source_principal"));
            Assert.Equal(BasicsMesh.Ns, Label(labels, "source_workload_namespace"));
            Assert.Equal(ClientDeploymentName, Label(labels, "source_canonical_service"));
            Assert.Equal("v3", Label(labels, "source_canonical_revision"));
            Assert.Equal(ClientDeploymentName, Label(labels, "source_app"));
            Assert.Equal("v3", Label(labels, "source_version"));
            Assert.Equal("Kubernetes", Label(labels, "source_cluster"));
        });

        // The same scrape of the waypoint pod carries Envoy's own stats and the agent's.
        await prometheus.WaitForQueryAsync($$"""envoy_server_live{namespace="{{BasicsMesh.Ns}}"}""", r => r.Count >= 1 && Sum(r) >= r.Count, s_limit);
        await prometheus.WaitForQueryAsync($$"""envoy_control_plane_connected_state{namespace="{{BasicsMesh.Ns}}"}""", r => Sum(r) >= 1, s_limit);
        await prometheus.WaitForQueryAsync($$"""waypoint_agent_certificate_expiry_seconds{namespace="{{BasicsMesh.Ns}}"} - time()""", r => r.Count >= 1 && r.All(s => Value(s!) > 0), s_limit);
        await prometheus.WaitForQueryAsync($$"""waypoint_agent_certificate_rotations_total{namespace="{{BasicsMesh.Ns}}"}""", r => Sum(r) >= 1, s_limit);
        await prometheus.WaitForQueryAsync($$"""waypoint_agent_sds_pushes_total{namespace="{{BasicsMesh.Ns}}"}""", r => Sum(r) >= 1, s_limit);

        // The controller pods (istiod's 15014 /metrics): the demo waypoint's Envoy is connected to one of them, one replica leads.
        await prometheus.WaitForQueryAsync($$"""pilot_xds{namespace="waypoint-system",waypoint="waypoint.{{BasicsMesh.Ns}}"}""", r => Sum(r) >= 1, s_limit);
        await prometheus.WaitForQueryAsync("""pilot_xds_pushes_total{namespace="waypoint-system",type="lds"}""", r => Sum(r) >= 1, s_limit);
        await prometheus.WaitForQueryAsync("""sum(waypoint_controller_leader{namespace="waypoint-system"})""", r => r.Count == 1 && Value(r[0]!) == 1, s_limit);
        await prometheus.WaitForQueryAsync("""waypoint_controller_informer_lists_total{namespace="waypoint-system"}""", r => Sum(r) >= 1, s_limit);
        await prometheus.WaitForQueryAsync("""waypoint_controller_queue_duration_seconds_count{namespace="waypoint-system"}""", r => Sum(r) >= 1, s_limit);
        await prometheus.WaitForQueryAsync("""waypoint_controller_translation_duration_seconds_count{namespace="waypoint-system"}""", r => Sum(r) >= 1, s_limit);
    }

    /// <summary>
    /// Requests from the Deployment's pod to <c>bound</c> until one is answered through the waypoint (a connection opened
    /// before the ztunnel knew the pod or the waypoint would go around it), then <paramref name="count"/> more.
    /// </summary>
    /// <returns>How many requests were answered through the waypoint.</returns>
    private async Task<int> RequestFromDeploymentPodAsync(int count)
    {
        var url = new Uri($"http://bound.{BasicsMesh.Ns}.svc.cluster.local/from-deployment");
        string? pod = null;
        var served = 0;
        await MeshBoxFixture.EventuallyAsync(async () =>
        {
            pod ??= mesh.Pods(BasicsMesh.Ns).FirstOrDefault(p => p.Name.StartsWith(ClientDeploymentName + "-", StringComparison.Ordinal))?.Name;
            if (pod is null)
            {
                return false;
            }

            try
            {
                using var probe = mesh.CreatePodHttpClient(BasicsMesh.Ns, pod, TimeSpan.FromSeconds(20));
                using var response = await probe.GetAsync(url);
                if (response.StatusCode == HttpStatusCode.OK && response.Headers.TryGetValues("server", out var server) && server.Contains("envoy"))
                {
                    served++;
                    return true;
                }

                return false;
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                return false;
            }
        }, () => Task.FromResult($"the {ClientDeploymentName} pod ({pod ?? "not listed yet"}) was never served through the waypoint"), s_limit);

        using var client = mesh.CreatePodHttpClient(BasicsMesh.Ns, pod!, TimeSpan.FromSeconds(20));
        for (var i = 0; i < count; i++)
        {
            using var response = await client.GetAsync(url);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            served++;
        }

        return served;
    }

    /// <summary>What a Prometheus install in the cluster gets: its ServiceAccount, read access to pods (and the rest SD roles read), a token.</summary>
    private async Task<string> PrometheusTokenAsync()
    {
        await CreateAsync("/api/v1/namespaces", new JsonObject { ["apiVersion"] = "v1", ["kind"] = "Namespace", ["metadata"] = new JsonObject { ["name"] = Monitoring } });
        await CreateAsync($"/api/v1/namespaces/{Monitoring}/serviceaccounts", new JsonObject { ["apiVersion"] = "v1", ["kind"] = "ServiceAccount", ["metadata"] = new JsonObject { ["name"] = Account } });
        await CreateAsync("/apis/rbac.authorization.k8s.io/v1/clusterroles", JsonNode.Parse("""
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "prometheus"},
             "rules": [
               {"apiGroups": [""], "resources": ["nodes", "nodes/metrics", "services", "endpoints", "pods"], "verbs": ["get", "list", "watch"]},
               {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["get", "list", "watch"]},
               {"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]}
            """)!);
        await CreateAsync("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", JsonNode.Parse($$"""
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "prometheus"},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "prometheus"},
             "subjects": [{"kind": "ServiceAccount", "name": "{{Account}}", "namespace": "{{Monitoring}}"}]}
            """)!);
        using var response = await mesh.Admin.PostAsJsonAsync(
            new Uri($"/api/v1/namespaces/{Monitoring}/serviceaccounts/{Account}/token", UriKind.Relative),
            new JsonObject { ["apiVersion"] = "authentication.k8s.io/v1", ["kind"] = "TokenRequest", ["spec"] = new JsonObject { ["expirationSeconds"] = 3600 } });
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"TokenRequest: {(int)response.StatusCode} {body}");
        return JsonNode.Parse(body)!["status"]!["token"]!.GetValue<string>();
    }

    private async Task CreateAsync(string path, JsonNode body)
    {
        using var response = await mesh.Admin.PostAsJsonAsync(new Uri(path, UriKind.Relative), body);
        Assert.True(response.IsSuccessStatusCode || response.StatusCode == HttpStatusCode.Conflict, $"POST {path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
    }

    private static string Kubeconfig(string server, string caPath, string token) => $"""
        apiVersion: v1
        kind: Config
        clusters:
        - name: box
          cluster:
            server: "{server}"
            certificate-authority: "{caPath}"
        users:
        - name: prometheus
          user:
            token: "{token}"
        contexts:
        - name: box
          context:
            cluster: box
            user: prometheus
        current-context: box
        """;

    /// <summary>The scrape job of Prometheus' own Kubernetes example (and Istio's), on a short interval for the test.</summary>
    private static string Config(string kubeconfig) => $$"""
        global:
          scrape_interval: 2s
          evaluation_interval: 2s
        scrape_configs:
        - job_name: kubernetes-pods
          kubernetes_sd_configs:
          - role: pod
            kubeconfig_file: {{kubeconfig}}
          relabel_configs:
          - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape]
            action: keep
            regex: "true"
          - source_labels: [__meta_kubernetes_pod_phase]
            action: keep
            regex: Running
          - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_path]
            action: replace
            target_label: __metrics_path__
            regex: (.+)
          - source_labels: [__address__, __meta_kubernetes_pod_annotation_prometheus_io_port]
            action: replace
            regex: ([^:]+)(?::\d+)?;(\d+)
            replacement: $1:$2
            target_label: __address__
          - source_labels: [__meta_kubernetes_namespace]
            target_label: namespace
          - source_labels: [__meta_kubernetes_pod_name]
            target_label: pod
        """;

    private static string? Label(JsonNode labels, string name) => labels[name]?.GetValue<string>();

    private static double Value(JsonNode sample) => double.Parse(sample["value"]![1]!.GetValue<string>(), CultureInfo.InvariantCulture);

    private static double Sum(JsonArray result) => result.Sum(s => Value(s!));
}
