using Waypoint.Telemetry.RequestMetrics;

namespace Waypoint.Translator.Tests.Telemetry;

/// <summary>The source workload's labels from the CONNECT's baggage (ztunnel's peer metadata), trusted only as far as the certificate.</summary>
public sealed class SourceBaggageTests
{
    private const string Principal = "spiffe://cluster.local/ns/shop/sa/web";
    private const string Full = "k8s.cluster.name=Kubernetes,k8s.namespace.name=shop,k8s.deployment.name=web,service.name=storefront,service.version=v2";

    [Fact]
    public void Ztunnels_baggage_gives_every_member()
    {
        Assert.Equal(new SourceBaggage("Kubernetes", "shop", "web", "storefront", "v2"), SourceBaggage.Parse(Full));
    }

    [Theory]
    [InlineData("k8s.namespace.name=jobs,k8s.cronjob.name=nightly", "nightly")]
    [InlineData("k8s.namespace.name=jobs,k8s.job.name=nightly", "nightly")]
    [InlineData("k8s.namespace.name=jobs,k8s.pod.name=nightly", "nightly")]
    [InlineData("k8s.namespace.name=jobs,k8s.statefulset.name=nightly", null)]
    public void Each_workload_kind_names_the_workload(string header, string? workload)
    {
        Assert.Equal(workload, SourceBaggage.Parse(header).Workload);
    }

    [Fact]
    public void W3C_whitespace_and_properties_are_tolerated_and_unknown_members_ignored()
    {
        var baggage = SourceBaggage.Parse(" k8s.namespace.name = shop ;prop=1 , userId=alice,k8s.deployment.name=web;x,service.version=v2 ");
        Assert.Equal(new SourceBaggage(null, "shop", "web", null, "v2"), baggage);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("-")]
    [InlineData("garbage")]
    [InlineData(",,,=,=x,k8s.namespace.name")]
    [InlineData("k8s.namespace.name=,k8s.deployment.name=")]
    [InlineData("k8s.namespace.name=sh op,k8s.deployment.name=\"web\",service.name=a\\b")]
    public void Bad_or_absent_baggage_is_empty(string? header)
    {
        Assert.True(SourceBaggage.Parse(header).IsEmpty, header);
    }

    [Fact]
    public void Too_long_values_and_headers_are_dropped()
    {
        Assert.Null(SourceBaggage.Parse("k8s.deployment.name=" + new string('a', SourceBaggage.MaxValueLength + 1)).Workload);
        Assert.Equal("web", SourceBaggage.Parse("k8s.deployment.name=web").Workload);
        Assert.True(SourceBaggage.Parse("k8s.deployment.name=web," + new string('x', SourceBaggage.MaxHeaderLength)).IsEmpty);
    }

    [Fact]
    public void The_labels_come_from_baggage_whose_namespace_is_the_certificates()
    {
        var text = IstioLabels.Of(Entry(Principal, Full)).LabelText("http", "200");
        Assert.Contains(",source_principal=\"spiffe://cluster.local/ns/shop/sa/web\",source_workload=\"web\",source_workload_namespace=\"shop\","
            + "source_canonical_service=\"storefront\",source_canonical_revision=\"v2\",source_app=\"storefront\",source_version=\"v2\",source_cluster=\"Kubernetes\",", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Partial_baggage_gives_unknown_for_what_it_lacks()
    {
        var labels = IstioLabels.Of(Entry(Principal, "k8s.namespace.name=shop,k8s.pod.name=web-0"));
        Assert.Equal(new SourceWorkload("web-0", "unknown", "unknown", "unknown"), labels.SourceWorkload);
    }

    [Theory]
    [InlineData("k8s.namespace.name=bank,k8s.deployment.name=teller,service.name=teller")] // another namespace: a lie
    [InlineData("k8s.deployment.name=teller,service.name=teller")] // no namespace to check
    [InlineData("nonsense")]
    public void Baggage_that_disagrees_with_the_certificate_or_lacks_a_namespace_is_ignored(string header)
    {
        var labels = IstioLabels.Of(Entry(Principal, header));
        Assert.Equal(SourceWorkload.Unknown, labels.SourceWorkload);
        Assert.Equal(Principal, labels.SourcePrincipal);
        Assert.Equal("shop", labels.SourceWorkloadNamespace);
    }

    [Fact]
    public void Without_a_certificate_or_baggage_the_source_workload_is_unknown()
    {
        Assert.Equal(SourceWorkload.Unknown, IstioLabels.Of(Entry(null, Full)).SourceWorkload);
        Assert.Equal("unknown", IstioLabels.Of(Entry(null, Full)).SourceWorkloadNamespace);
        Assert.Equal(SourceWorkload.Unknown, IstioLabels.Of(Entry(Principal, null)).SourceWorkload);
        Assert.Equal(SourceWorkload.Unknown, IstioLabels.Of(new Dictionary<string, string>()).SourceWorkload);
        Assert.Contains(",source_workload=\"unknown\",", IstioLabels.Of(Entry(Principal, null)).LabelText("tcp", null), StringComparison.Ordinal);
    }

    [Fact]
    public void The_stats_logger_tags_each_request_with_the_principal_and_baggage_filter_states()
    {
        var log = RequestMetricsEnvoyConfig.HttpAccessLog(new RequestMetricsEnvoyConfig.DestinationService("echo.app.svc.cluster.local", "echo", "app"));
        Assert.Equal(RequestMetricsEnvoyConfig.StatsLoggerName, log.Name);
        var config = log.TypedConfig.Unpack<global::Xds.Type.V3.TypedStruct>();
        Assert.Equal(RequestMetricsEnvoyConfig.StatsLoggerTypeUrl, config.TypeUrl);
        var tags = config.Value.Fields["counters"].ListValue.Values[0].StructValue.Fields["stat"].StructValue.Fields["tags"].ListValue.Values
            .ToDictionary(t => t.StructValue.Fields["name"].StringValue, t => t.StructValue.Fields["value_format"].StringValue);
        Assert.Equal("%FILTER_STATE(io.istio.peer_principal:PLAIN)%|%UPSTREAM_METADATA(istio:workload)%|%FILTER_STATE(io.istio.baggage:PLAIN)%", tags[RequestMetricsEnvoyConfig.JoinedTags.Peers]);
        Assert.Equal("echo.app.svc.cluster.local|echo|app", tags[RequestMetricsEnvoyConfig.JoinedTags.Destination]);
        Assert.Equal("%RESPONSE_CODE%|%RESPONSE_FLAGS%|%REQ(content-type):16%", tags[RequestMetricsEnvoyConfig.JoinedTags.Response]);
        Assert.Equal(3, tags.Count);
    }

    [Fact]
    public void Joined_tags_expand_to_their_values_and_the_last_value_keeps_any_separator()
    {
        var tags = RequestMetricsEnvoyConfig.Expand(new Dictionary<string, string>
        {
            [RequestMetricsEnvoyConfig.JoinedTags.Destination] = "echo.app.svc.cluster.local|echo|app",
            [RequestMetricsEnvoyConfig.JoinedTags.Peers] = "spiffe://cluster.local/ns/app/sa/client||k8s.namespace.name=app,odd=a|b",
            [RequestMetricsEnvoyConfig.JoinedTags.Response] = "200|-|text/x|y",
        });

        Assert.Equal("echo.app.svc.cluster.local", tags[RequestMetricsEnvoyConfig.Tags.DestinationService]);
        Assert.Equal("echo", tags[RequestMetricsEnvoyConfig.Tags.DestinationServiceName]);
        Assert.Equal("app", tags[RequestMetricsEnvoyConfig.Tags.DestinationServiceNamespace]);
        Assert.Equal("spiffe://cluster.local/ns/app/sa/client", tags[RequestMetricsEnvoyConfig.Tags.SourcePrincipal]);
        Assert.Equal(string.Empty, tags[RequestMetricsEnvoyConfig.Tags.DestinationWorkload]);
        Assert.Equal("k8s.namespace.name=app,odd=a|b", tags[RequestMetricsEnvoyConfig.Tags.SourceBaggage]);
        Assert.Equal("200", tags[RequestMetricsEnvoyConfig.Tags.ResponseCode]);
        Assert.Equal("-", tags[RequestMetricsEnvoyConfig.Tags.ResponseFlags]);
        Assert.Equal("text/x|y", tags[RequestMetricsEnvoyConfig.Tags.ContentType]);
        Assert.Equal(9, tags.Count);
    }

    private static Dictionary<string, string> Entry(string? principal, string? baggage)
    {
        var tags = new Dictionary<string, string>();
        if (principal is not null)
        {
            tags[RequestMetricsEnvoyConfig.Tags.SourcePrincipal] = principal;
        }

        if (baggage is not null)
        {
            tags[RequestMetricsEnvoyConfig.Tags.SourceBaggage] = baggage;
        }

        return tags;
    }
}
