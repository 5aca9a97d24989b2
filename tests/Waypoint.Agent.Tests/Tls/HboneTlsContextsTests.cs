using Envoy.Extensions.TransportSockets.Tls.V3;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Waypoint.Agent.Tls;

namespace Waypoint.Agent.Tests.Tls;

public sealed class HboneTlsContextsTests
{
    [Fact]
    public void Downstream_Requires_Client_Certs_Tls13_H2_And_Trust_Domain_Prefix_With_Slash()
    {
        var context = HboneTlsContexts.Downstream("cluster.local");

        Assert.True(context.RequireClientCertificate);
        var common = context.CommonTlsContext;
        Assert.Equal(TlsParameters.Types.TlsProtocol.Tlsv13, common.TlsParams.TlsMinimumProtocolVersion);
        Assert.Equal(TlsParameters.Types.TlsProtocol.Tlsv13, common.TlsParams.TlsMaximumProtocolVersion);
        Assert.Equal(["h2"], common.AlpnProtocols);
        Assert.Equal("default", Assert.Single(common.TlsCertificateSdsSecretConfigs).Name);
        Assert.Equal("ROOTCA", common.CombinedValidationContext.ValidationContextSdsSecretConfig.Name);
        var matcher = Assert.Single(common.CombinedValidationContext.DefaultValidationContext.MatchTypedSubjectAltNames);
        Assert.Equal(SubjectAltNameMatcher.Types.SanType.Uri, matcher.SanType);
        Assert.Equal("spiffe://cluster.local/", matcher.Matcher.Prefix);
        var sds = common.TlsCertificateSdsSecretConfigs[0].SdsConfig;
        Assert.Equal("sds-grpc", Assert.Single(sds.ApiConfigSource.GrpcServices).EnvoyGrpc.ClusterName);
        Assert.Equal(0, sds.InitialFetchTimeout.Seconds);
    }

    [Fact]
    public void Upstream_Adds_The_Waypoint_Namespace_Prefix_And_No_Sni()
    {
        var context = HboneTlsContexts.Upstream("cluster.local", "apps");
        Assert.Equal(string.Empty, context.Sni);
        Assert.Equal(
            ["spiffe://cluster.local/", "spiffe://cluster.local/ns/apps/sa/"],
            context.CommonTlsContext.CombinedValidationContext.DefaultValidationContext.MatchTypedSubjectAltNames.Select(m => m.Matcher.Prefix));
    }

    [Theory]
    [InlineData("")]
    [InlineData("Cluster.Local")]
    [InlineData("td/evil")]
    public void Invalid_Trust_Domain_Is_Refused(string trustDomain) =>
        Assert.Throws<ArgumentException>(() => HboneTlsContexts.Downstream(trustDomain));

    [Fact]
    public void SdsCluster_Is_Static_Http2_Over_The_Pipe()
    {
        var cluster = HboneTlsContexts.SdsCluster("/var/run/secrets/workload-spiffe-uds/socket");
        Assert.Equal("sds-grpc", cluster.Name);
        Assert.Equal("/var/run/secrets/workload-spiffe-uds/socket", cluster.LoadAssignment.Endpoints[0].LbEndpoints[0].Endpoint.Address.Pipe.Path);
        Assert.True(cluster.TypedExtensionProtocolOptions.ContainsKey("envoy.extensions.upstreams.http.v3.HttpProtocolOptions"));
    }

    [Fact]
    public async Task AddWaypointAgent_Rejects_Invalid_Options_On_Start_Naming_Each_Problem()
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddWaypointAgent(o =>
        {
            o.TrustDomain = "Bad Domain";
            o.CaAddress = "no-port";
            o.CertificateTtl = TimeSpan.FromDays(100);
        });
        using var host = builder.Build();

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains(ex.Failures, f => f.Contains("TrustDomain", StringComparison.Ordinal));
        Assert.Contains(ex.Failures, f => f.Contains("Namespace", StringComparison.Ordinal));
        Assert.Contains(ex.Failures, f => f.Contains("ServiceAccount", StringComparison.Ordinal));
        Assert.Contains(ex.Failures, f => f.Contains("CaAddress", StringComparison.Ordinal));
        Assert.Contains(ex.Failures, f => f.Contains("CertificateTtl", StringComparison.Ordinal));
    }
}
