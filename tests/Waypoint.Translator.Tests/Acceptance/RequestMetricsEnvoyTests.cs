using System.Net;
using Waypoint.Telemetry.RequestMetrics;
using Waypoint.TestKit.Http;
using Waypoint.Xds;

namespace Waypoint.Translator.Tests.Acceptance;

/// <summary>
/// Istio's request metrics on upstream Envoy: requests through HBONE into a real waypoint Envoy, whose stats access
/// logger counts them into tagged stats, scraped from the agent's merged <c>/stats/prometheus</c> (the same rendering the
/// agent serves) as Prometheus would.
/// </summary>
public sealed class RequestMetricsEnvoyTests
{
    private const string Client = "spiffe://cluster.local/ns/app/sa/client";
    private const string DbAuthority = "10.96.0.12:5432";

    private const string ApiAuthority = "10.96.0.13:80";

    private const string GoneAuthority = "10.96.0.14:5433";

    /// <summary>
    /// Two Services whose endpoints are pods, as the API server's EndpointSlice controller writes them (a
    /// <c>targetRef</c> to the pod): <c>db</c> (TCP) served by StatefulSet <c>db</c>'s pod, <c>api</c> (HTTP) by Deployment
    /// <c>api</c>'s (through its ReplicaSet). The pods are not ambient, so the waypoint reaches them in plain text.
    /// </summary>
    private static string PodBackedServices(IPEndPoint backend, int closedPort) => $$$"""
        apiVersion: v1
        kind: Service
        metadata: {name: db, namespace: app}
        spec:
          clusterIP: 10.96.0.12
          ports: [{name: tcp-db, port: 5432, targetPort: {{{backend.Port}}}}]
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {name: db-1, namespace: app, labels: {kubernetes.io/service-name: db}}
        addressType: IPv4
        ports: [{name: tcp-db, port: {{{backend.Port}}}}]
        endpoints: [{addresses: ["{{{backend.Address}}}"], conditions: {ready: true}, targetRef: {kind: Pod, name: db-0, namespace: app}}]
        ---
        apiVersion: v1
        kind: Pod
        metadata:
          name: db-0
          namespace: app
          labels: {app: database}
          ownerReferences: [{apiVersion: apps/v1, kind: StatefulSet, name: db, uid: 00000000-0000-0000-0000-000000000001, controller: true}]
        spec: {containers: [{name: db, image: db}]}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: api, namespace: app}
        spec:
          clusterIP: 10.96.0.13
          ports: [{name: http, port: 80, targetPort: {{{backend.Port}}}}]
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {name: api-1, namespace: app, labels: {kubernetes.io/service-name: api}}
        addressType: IPv4
        ports: [{name: http, port: {{{backend.Port}}}}]
        endpoints: [{addresses: ["{{{backend.Address}}}"], conditions: {ready: true}, targetRef: {kind: Pod, name: api-5d8f7c9b4-x7k2p, namespace: app}}]
        ---
        apiVersion: v1
        kind: Pod
        metadata:
          name: api-5d8f7c9b4-x7k2p
          namespace: app
          labels: {app: api, pod-template-hash: 5d8f7c9b4}
          ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: api-5d8f7c9b4, uid: 00000000-0000-0000-0000-000000000002, controller: true}]
        spec: {containers: [{name: api, image: api}]}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: gone, namespace: app}
        spec:
          clusterIP: 10.96.0.14
          ports: [{name: tcp-gone, port: 5433, targetPort: {{{closedPort}}}}]
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {name: gone-1, namespace: app, labels: {kubernetes.io/service-name: gone}}
        addressType: IPv4
        ports: [{name: tcp-gone, port: {{{closedPort}}}}]
        endpoints: [{addresses: ["{{{backend.Address}}}"], conditions: {ready: true}}]
        ---

        """;

    [Fact]
    public async Task Requests_And_Tcp_Connections_Become_Istio_Series_With_The_Waypoint_Reporter_And_The_Client_Principal()
    {
        await using var echo = await EchoBackend.StartAsync("echo");
        await using var agent = await RequestMetricsAgent.StartAsync();
        HboneTarget[] targets =
        [
            new(WaypointEnvoyHarness.EchoAuthority, Client), new(DbAuthority, Client), new(ApiAuthority, Client),
            // The client's ztunnel telling its workload, and one whose baggage claims another namespace than its certificate's.
            new(ApiAuthority, Client, "k8s.cluster.name=Kubernetes,k8s.namespace.name=app,k8s.deployment.name=client,service.name=client-app,service.version=v1"),
            new(ApiAuthority, Client, "k8s.namespace.name=bank,k8s.deployment.name=teller"),
            new(GoneAuthority, Client),
        ];
        var options = new TranslatorOptions { HboneBindAddress = "127.0.0.1", HboneBindPort = 0, RequestMetrics = true };
        var (harness, _) = await WaypointEnvoyHarness.StartAsync(WaypointEnvoyHarness.Mesh(echo.EndPoint, PodBackedServices(echo.EndPoint, ClosedPort())), options, XdsProtocol.StateOfTheWorld, targets);
        await using var _ = harness;
        agent.EnvoyAdmin = harness.Waypoint.Admin;

        using (var http = harness.CreateHttpClient(targets[0]))
        {
            for (var i = 0; i < 3; i++)
            {
                using var response = await http.GetAsync(new Uri("/hello", UriKind.Relative));
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }
        }

        using (var overTcp = harness.CreateHttpClient(targets[1]))
        {
            using var response = await overTcp.GetAsync(new Uri("/over-tcp", UriKind.Relative)); // HTTP bytes on the TCP chain
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        using (var api = harness.CreateHttpClient(targets[2]))
        {
            using var response = await api.GetAsync(new Uri("/api", UriKind.Relative));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        foreach (var (target, count) in new[] { (targets[3], 2), (targets[4], 1) })
        {
            using var api = harness.CreateHttpClient(target);
            for (var i = 0; i < count; i++)
            {
                using var response = await api.GetAsync(new Uri("/api", UriKind.Relative));
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }
        }

        // A TCP service whose upstream refuses: the connection never reaches it, yet opens and closes.
        using (var gone = harness.CreateHttpClient(targets[5]))
        {
            await Assert.ThrowsAnyAsync<HttpRequestException>(() => gone.GetAsync(new Uri("/nobody", UriKind.Relative)));
        }

        (string, string)[] http200 =
        [
            ("reporter", "waypoint"),
            ("source_principal", Client),
            ("source_workload_namespace", "app"),
            ("destination_service", "echo.app.svc.cluster.local"),
            ("destination_service_name", "echo"),
            ("destination_service_namespace", "app"),
            // echo's endpoint names no pod: no workload to report, as Istio reports it without metadata.
            ("destination_workload", "unknown"),
            ("destination_workload_namespace", "app"),
            ("request_protocol", "http"),
            ("response_code", "200"),
            ("response_flags", "-"),
            ("connection_security_policy", "mutual_tls"),
        ];
        (string, string)[] tcp =
        [
            ("reporter", "waypoint"),
            ("source_principal", Client),
            ("destination_service", "db.app.svc.cluster.local"),
            ("destination_workload", "db"),
            ("destination_workload_namespace", "app"),
            ("request_protocol", "tcp"),
            ("connection_security_policy", "mutual_tls"),
        ];

        // The pod's workload as Istio names it: the Deployment, not the pod or its ReplicaSet.
        // No baggage, or baggage of another namespace than the certificate's: the source workload is unknown.
        (string, string)[] api200 =
        [
            ("reporter", "waypoint"),
            ("source_principal", Client),
            ("source_workload", "unknown"),
            ("source_canonical_service", "unknown"),
            ("source_cluster", "unknown"),
            ("destination_service", "api.app.svc.cluster.local"),
            ("destination_workload", "api"),
            ("destination_workload_namespace", "app"),
            ("response_code", "200"),
        ];

        // The client ztunnel's baggage names the source workload.
        (string, string)[] apiFromClient200 =
        [
            ("reporter", "waypoint"),
            ("source_principal", Client),
            ("source_workload", "client"),
            ("source_workload_namespace", "app"),
            ("source_canonical_service", "client-app"),
            ("source_canonical_revision", "v1"),
            ("source_app", "client-app"),
            ("source_version", "v1"),
            ("source_cluster", "Kubernetes"),
            ("destination_service", "api.app.svc.cluster.local"),
            ("destination_workload", "api"),
            ("response_code", "200"),
        ];

        // Counters are live; Envoy merges its histograms every 5 s: poll the scrape until they show.
        var scrape = await agent.ScrapeUntilAsync(
            text => PrometheusText.Value(text, "istio_requests_total", http200) == 3
                && PrometheusText.Value(text, "istio_tcp_connections_closed_total", tcp) == 1
                && PrometheusText.Value(text, "istio_requests_total", api200) == 2
                && PrometheusText.Value(text, "istio_requests_total", apiFromClient200) == 2
                && PrometheusText.Value(text, "istio_request_duration_milliseconds_count", http200) == 3
                && PrometheusText.Value(text, "istio_tcp_connections_closed_total", [("destination_service", "gone.app.svc.cluster.local")]) >= 1,
            TimeSpan.FromSeconds(30));

        Assert.Equal(3, PrometheusText.Value(scrape, "istio_request_duration_milliseconds_count", http200));
        Assert.Equal(3, PrometheusText.Value(scrape, "istio_request_bytes_count", http200));
        Assert.Equal(0, PrometheusText.Value(scrape, "istio_request_bytes_sum", http200)); // bodies, as Istio defines them: three GETs
        Assert.True(PrometheusText.Value(scrape, "istio_response_bytes_sum", http200) > 0, "response bytes summed");
        Assert.Equal(1, PrometheusText.Value(scrape, "istio_tcp_connections_opened_total", tcp));
        Assert.True(PrometheusText.Value(scrape, "istio_tcp_received_bytes_total", tcp) > 0, "TCP bytes received from the client");
        Assert.True(PrometheusText.Value(scrape, "istio_tcp_sent_bytes_total", tcp) > 0, "TCP bytes sent to the client");
        // The refused connection: opened at its end (no upstream ever connected), closed, no bytes from anyone upstream.
        (string, string)[] refused = [("destination_service", "gone.app.svc.cluster.local"), ("destination_workload", "unknown"), ("request_protocol", "tcp")];
        Assert.Equal(PrometheusText.Value(scrape, "istio_tcp_connections_closed_total", refused), PrometheusText.Value(scrape, "istio_tcp_connections_opened_total", refused));
        Assert.Equal(0, PrometheusText.Value(scrape, "istio_tcp_sent_bytes_total", refused));

        // The scrape is istio-agent's merge: Envoy's own stats come first; its raw request stats only as Istio's series.
        Assert.NotNull(PrometheusText.Value(scrape, "envoy_server_live", []));
        Assert.DoesNotContain(RequestMetricsEnvoyConfig.EnvoySeriesPrefix, scrape, StringComparison.Ordinal);
        var raw = await harness.Waypoint.Admin.GetStringAsync(new Uri("stats/prometheus", UriKind.Relative));
        Assert.Contains(RequestMetricsEnvoyConfig.EnvoySeriesPrefix + "requests_total{", raw, StringComparison.Ordinal);

        // Every request series the shipped Grafana dashboard queries is one this scrape renders.
        var dashboard = File.ReadAllText(Path.Combine(Waypoint.TestKit.Envoy.EnvoyBinary.FindRepositoryRoot()!, "manifests", "dashboards", "waypoint-dashboard.json"));
        var queried = System.Text.RegularExpressions.Regex.Matches(dashboard, @"\b(istio_[a-z_]+)").Select(m => m.Groups[1].Value).Distinct().ToList();
        Assert.NotEmpty(queried);
        Assert.All(queried, name => Assert.Contains("\n" + name + "{", scrape, StringComparison.Ordinal));
    }

    private static int ClosedPort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port; // closed again when disposed: connections to it are refused
    }
}
