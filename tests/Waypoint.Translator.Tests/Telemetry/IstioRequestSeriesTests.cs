using System.Text;
using Waypoint.Telemetry.RequestMetrics;
using Waypoint.Translator.Tests.Acceptance;

namespace Waypoint.Translator.Tests.Telemetry;

/// <summary>Envoy's raw request stats (its stats access logger's tagged series) rendered as Istio's series at scrape time.</summary>
public sealed class IstioRequestSeriesTests
{
    // The three joined tags Envoy's stats logger writes (RequestMetricsEnvoyConfig.JoinedTags).
    private const string Service = "destination=\"api.app.svc.cluster.local|api|app\"";
    private const string Principal = "spiffe://cluster.local/ns/app/sa/client";
    private const string Baggage = "k8s.namespace.name=app,k8s.deployment.name=client,service.name=client,service.version=v1";
    private const string Workload = "api;app;api;v1;Kubernetes";

    private static string Http(string baggage, string contentType, string code = "200") =>
        $"{Service},peers=\"{Principal}|{Workload}|{baggage}\",response=\"{code}|-|{contentType}\"";

    [Fact]
    public void Raw_series_become_istio_series_and_the_rest_of_envoys_text_is_kept_in_order()
    {
        var envoyText = string.Join('\n',
            "# TYPE envoy_server_live gauge",
            "envoy_server_live{} 1",
            "# TYPE envoy_waypoint_istio_requests_total counter",
            $"envoy_waypoint_istio_requests_total{{{Http(Baggage, "application/json")}}} 3",
            $"envoy_waypoint_istio_requests_total{{{Http(Baggage, "text/plain; char")}}} 2",
            $"envoy_waypoint_istio_requests_total{{{Http(Baggage, "application/grpc")}}} 5",
            "# TYPE envoy_cluster_upstream_rq_total counter",
            "envoy_cluster_upstream_rq_total{envoy_cluster_name=\"x\"} 7",
            "");

        var (envoy, istio) = Rewrite(envoyText);

        Assert.Equal("# TYPE envoy_server_live gauge\nenvoy_server_live{} 1\n# TYPE envoy_cluster_upstream_rq_total counter\nenvoy_cluster_upstream_rq_total{envoy_cluster_name=\"x\"} 7\n", envoy);
        Assert.DoesNotContain("envoy_waypoint_istio", istio, StringComparison.Ordinal);
        Assert.Contains("# TYPE istio_requests_total counter\n", istio, StringComparison.Ordinal);
        // Two content types of one protocol are one Istio series; gRPC is another.
        Assert.Equal(5, PrometheusText.Value(istio, "istio_requests_total", [("request_protocol", "http"), ("response_code", "200"), ("source_workload", "client")]));
        Assert.Equal(5, PrometheusText.Value(istio, "istio_requests_total", [("request_protocol", "grpc"), ("source_canonical_revision", "v1")]));
        Assert.Equal(2, istio.Split('\n').Count(l => l.StartsWith("istio_requests_total{", StringComparison.Ordinal)));
        var http = istio.Split('\n').Single(l => l.StartsWith("istio_requests_total{", StringComparison.Ordinal) && l.Contains("\"http\"", StringComparison.Ordinal));
        Assert.Equal(
            "istio_requests_total{reporter=\"waypoint\",source_principal=\"spiffe://cluster.local/ns/app/sa/client\",source_workload=\"client\",source_workload_namespace=\"app\","
            + "source_canonical_service=\"client\",source_canonical_revision=\"v1\",source_app=\"client\",source_version=\"v1\",source_cluster=\"unknown\","
            + "destination_service=\"api.app.svc.cluster.local\",destination_service_name=\"api\",destination_service_namespace=\"app\",destination_workload=\"api\","
            + "destination_workload_namespace=\"app\",connection_security_policy=\"mutual_tls\",response_flags=\"-\",request_protocol=\"http\",response_code=\"200\"} 5",
            http);
    }

    [Fact]
    public void Baggage_of_another_namespace_than_the_certificates_is_summed_into_the_unknown_source()
    {
        var foreign = "k8s.namespace.name=bank,k8s.deployment.name=teller";
        var envoyText = string.Join('\n',
            $"envoy_waypoint_istio_requests_total{{{Http(foreign, "")}}} 1",
            $"envoy_waypoint_istio_requests_total{{{Http("", "")}}} 4",
            "");

        var (_, istio) = Rewrite(envoyText);

        Assert.Equal(5, PrometheusText.Value(istio, "istio_requests_total", [("source_workload", "unknown"), ("source_workload_namespace", "app")]));
        Assert.DoesNotContain("teller", istio, StringComparison.Ordinal);
    }

    [Fact]
    public void Histograms_are_summed_bucket_by_bucket_and_keep_envoys_bounds()
    {
        string Series(string type, string suffix, string? le, double value) =>
            $"envoy_waypoint_istio_request_duration_milliseconds{suffix}{{{Http(Baggage, type)}{(le is null ? "" : $",le=\"{le}\"")}}} {value}";
        var envoyText = string.Join('\n',
            "# TYPE envoy_waypoint_istio_request_duration_milliseconds histogram",
            Series("a", "_bucket", "0.5", 1), Series("a", "_bucket", "1", 2), Series("a", "_bucket", "+Inf", 3), Series("a", "_sum", null, 2.5), Series("a", "_count", null, 3),
            Series("b", "_bucket", "0.5", 0), Series("b", "_bucket", "1", 1), Series("b", "_bucket", "+Inf", 1), Series("b", "_sum", null, 0.75), Series("b", "_count", null, 1),
            "");

        var (envoy, istio) = Rewrite(envoyText);

        Assert.Equal(string.Empty, envoy);
        Assert.Contains("# TYPE istio_request_duration_milliseconds histogram\n", istio, StringComparison.Ordinal);
        (string, string)[] labels = [("request_protocol", "http")];
        Assert.Equal(1, PrometheusText.Value(istio, "istio_request_duration_milliseconds_bucket", [.. labels, ("le", "0.5")]));
        Assert.Equal(3, PrometheusText.Value(istio, "istio_request_duration_milliseconds_bucket", [.. labels, ("le", "1")]));
        Assert.Equal(4, PrometheusText.Value(istio, "istio_request_duration_milliseconds_bucket", [.. labels, ("le", "+Inf")]));
        Assert.Equal(3.25, PrometheusText.Value(istio, "istio_request_duration_milliseconds_sum", labels));
        Assert.Equal(4, PrometheusText.Value(istio, "istio_request_duration_milliseconds_count", labels));
        var lines = istio.Split('\n');
        Assert.True(Array.FindIndex(lines, l => l.Contains("le=\"0.5\"", StringComparison.Ordinal)) < Array.FindIndex(lines, l => l.Contains("le=\"+Inf\"", StringComparison.Ordinal)));
    }

    [Fact]
    public void Tcp_series_have_the_tcp_protocol_and_no_response_code_and_families_come_in_istios_order()
    {
        var tcp = $"{Service},peers=\"{Principal}||\",response=\"|UF|\"";
        var envoyText = string.Join('\n',
            $"envoy_waypoint_istio_tcp_connections_closed_total{{{tcp}}} 2",
            $"envoy_waypoint_istio_tcp_connections_opened_total{{{tcp}}} 2",
            $"envoy_waypoint_istio_requests_total{{{Http(Baggage, "")}}} 1",
            "");

        var (_, istio) = Rewrite(envoyText);

        (string, string)[] labels = [("request_protocol", "tcp"), ("response_flags", "UF"), ("destination_workload", "unknown"), ("destination_workload_namespace", "app")];
        Assert.Equal(2, PrometheusText.Value(istio, "istio_tcp_connections_opened_total", labels));
        Assert.Equal(2, PrometheusText.Value(istio, "istio_tcp_connections_closed_total", labels));
        Assert.DoesNotContain("response_code", istio.Split('\n').Single(l => l.StartsWith("istio_tcp_connections_opened_total{", StringComparison.Ordinal)), StringComparison.Ordinal);
        Assert.True(istio.IndexOf("istio_requests_total", StringComparison.Ordinal) < istio.IndexOf("istio_tcp_connections_opened_total", StringComparison.Ordinal));
        Assert.True(istio.IndexOf("istio_tcp_connections_opened_total", StringComparison.Ordinal) < istio.IndexOf("istio_tcp_connections_closed_total", StringComparison.Ordinal));
    }

    [Fact]
    public void Escaped_label_values_are_read_back_and_written_escaped()
    {
        var labels = IstioRequestSeries.ParseLabels("a=\"x\\\"y\",b=\"back\\\\slash\",c=\"line\\nfeed\",d=\"\"");
        Assert.Equal("x\"y", labels["a"]);
        Assert.Equal("back\\slash", labels["b"]);
        Assert.Equal("line\nfeed", labels["c"]);
        Assert.Equal(string.Empty, labels["d"]);

        var odd = $"{Service},peers=\"spiffe://cluster.local/ns/app/sa/cli\\\"ent||\",response=\"200|-|\"";
        var (_, istio) = Rewrite($"envoy_waypoint_istio_requests_total{{{odd}}} 1\n");
        Assert.Contains("source_principal=\"spiffe://cluster.local/ns/app/sa/cli\\\"ent\"", istio, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_raw_series_nothing_is_added_and_malformed_lines_stay_envoys()
    {
        var (envoy, istio) = Rewrite("envoy_waypoint_istio_requests_total{broken 1\nenvoy_waypoint_istio_unknown_stat{a=\"b\"} 2\n");
        Assert.Equal(string.Empty, istio);
        Assert.Equal("envoy_waypoint_istio_requests_total{broken 1\nenvoy_waypoint_istio_unknown_stat{a=\"b\"} 2\n", envoy);
    }

    private static (string Envoy, string Istio) Rewrite(string envoyText)
    {
        var envoy = new StringBuilder();
        var istio = new StringBuilder();
        IstioRequestSeries.Rewrite(envoyText, envoy, istio);
        return (envoy.ToString(), istio.ToString());
    }
}
