using Grpc.Core;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Waypoint.Agent.Certificates;
using Waypoint.Agent.DevCa;
using Waypoint.TestKit.Ca;

namespace Waypoint.Agent.Tests.Ca;

/// <summary>
/// Every §6 case through the real client, TLS and the istiod double. Each starts from a good installed
/// certificate, so "no bad certificate installed" means the good one is still current afterwards.
/// </summary>
public sealed class IstiodCaNegativeCaseTests
{
    private static readonly CancellationToken s_none = CancellationToken.None;

    [Fact]
    public async Task HappyPath_Sends_Token_ClusterId_Csr_And_Ttl_And_Installs_The_Identity()
    {
        await using var ctx = await AgentTestContext.StartAsync(o => o.CertificateTtl = TimeSpan.FromHours(2));

        var certificate = await ctx.Manager.RenewAsync(s_none);

        Assert.Same(certificate, ctx.Manager.Current);
        Assert.Equal("spiffe://cluster.local/ns/apps/sa/waypoint", certificate.Identity);
        var request = Assert.Single(ctx.Ca.Requests);
        Assert.Equal("Bearer " + File.ReadAllText(ctx.Options.TokenPath).Trim(), request.Header("authorization"));
        Assert.Equal("Kubernetes", request.Header("clusterid"));
        Assert.Equal(7200, request.ValidityDurationSeconds);
        Assert.Equal(certificate.Identity, request.Identity);
        Assert.Equal(ctx.Ca.Ca.Root.Thumbprint, Assert.Single(certificate.TrustBundle).Thumbprint);
        Assert.True(ctx.Manager.IsReady);
        Assert.Equal(1, ctx.Rotations.GetMeasurementSnapshot().EvaluateAsCounter());
        ctx.Expiry.RecordObservableInstruments();
        Assert.Equal(certificate.NotAfter.ToUnixTimeSeconds(), ctx.Expiry.LastMeasurement!.Value);
        ctx.AssertLogsHoldNoSecrets();
    }

    [Fact]
    public async Task Token_Is_Reread_On_Every_Call()
    {
        await using var ctx = await AgentTestContext.StartAsync();
        await ctx.Manager.RenewAsync(s_none);
        var rotated = ctx.Ca.CreateToken(AgentTestContext.Namespace, AgentTestContext.ServiceAccount, TimeSpan.FromHours(2));
        ctx.WriteToken("  " + rotated + "\n");

        await ctx.Manager.RenewAsync(s_none);

        Assert.Equal("Bearer " + rotated, ctx.Ca.Requests[^1].Header("authorization"));
    }

    [Fact]
    public async Task Expired_Token_Is_Unauthenticated() =>
        await AssertCaErrorAsync(
            ctx => ctx.WriteToken(ctx.Ca.CreateToken(AgentTestContext.Namespace, AgentTestContext.ServiceAccount, TimeSpan.FromMinutes(-1))),
            StatusCode.Unauthenticated);

    [Fact]
    public async Task Wrong_Audience_Is_Unauthenticated() =>
        await AssertCaErrorAsync(
            ctx => ctx.WriteToken(ctx.Ca.CreateToken(AgentTestContext.Namespace, AgentTestContext.ServiceAccount, audiences: ["https://kubernetes.default.svc"])),
            StatusCode.Unauthenticated);

    [Fact]
    public async Task Non_ServiceAccount_Token_Is_Unauthenticated() =>
        await AssertCaErrorAsync(
            ctx => ctx.WriteToken(DevTokens.Create("system:node:worker-1", DateTimeOffset.UtcNow.AddHours(1), ["istio-ca"])),
            StatusCode.Unauthenticated);

    [Fact]
    public async Task Unknown_Cluster_Id_Is_Unauthenticated() =>
        await AssertCaErrorAsync(ctx => ctx.Options.ClusterId = "cluster-nobody-knows", StatusCode.Unauthenticated);

    [Fact]
    public async Task Ttl_Over_The_Limit_Is_InvalidArgument() =>
        await AssertCaErrorAsync(ctx => ctx.Options.CertificateTtl = TimeSpan.FromDays(91), StatusCode.InvalidArgument);

    [Fact]
    public async Task Malformed_Csr_Is_InvalidArgument()
    {
        await using var ctx = await AgentTestContext.StartAsync();
        var ex = await Assert.ThrowsAsync<WorkloadCertificateException>(() =>
            ctx.Client.CreateCertificateAsync("-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n", TimeSpan.FromHours(1), s_none));
        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        Assert.Contains("CSR signing error", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Istiod_Down_Is_Unavailable_Then_Back_Works()
    {
        await using var ctx = await AgentTestContext.StartAsync();
        var good = await ctx.Manager.RenewAsync(s_none);
        await ctx.Ca.StopAsync();

        var ex = await Assert.ThrowsAsync<WorkloadCertificateException>(() => ctx.Manager.RenewAsync(s_none));
        Assert.Equal(StatusCode.Unavailable, ex.StatusCode);
        Assert.Same(good, ctx.Manager.Current);

        await ctx.Ca.RestartAsync();
        var renewed = await ctx.Manager.RenewAsync(s_none);
        Assert.NotEqual(good.SerialNumber, renewed.SerialNumber);
        Assert.Same(renewed, ctx.Manager.Current);
    }

    [Fact]
    public async Task Wrong_Mesh_Root_Fails_The_Handshake_And_Sends_No_Token()
    {
        await using var ctx = await AgentTestContext.StartAsync();
        File.WriteAllText(ctx.Options.RootCertPath, ctx.Ca.ForeignCa.RootCertificatePem);

        var ex = await Assert.ThrowsAsync<WorkloadCertificateException>(() => ctx.Manager.RenewAsync(s_none));

        Assert.Equal(StatusCode.Unavailable, ex.StatusCode);
        Assert.Contains("TLS handshake", ex.Message, StringComparison.Ordinal);
        Assert.Empty(ctx.Ca.Requests);
        Assert.Null(ctx.Manager.Current);

        // The channel is rebuilt after a failure, so a fixed root file is picked up.
        File.WriteAllText(ctx.Options.RootCertPath, ctx.Ca.Ca.RootCertificatePem);
        await ctx.Manager.RenewAsync(s_none);
    }

    [Theory]
    [InlineData(CaServerCertificateFault.WrongName)]
    [InlineData(CaServerCertificateFault.ForeignRoot)]
    public async Task Wrong_Server_Certificate_Fails_The_Handshake_And_Sends_No_Token(CaServerCertificateFault fault)
    {
        await using var ctx = await AgentTestContext.StartAsync();
        var good = await ctx.Manager.RenewAsync(s_none);
        ctx.Client.Dispose(); // a fresh connection, so the new server certificate is presented
        ctx.Ca.Faults.ServerCertificate = fault;

        var ex = await Assert.ThrowsAsync<WorkloadCertificateException>(() => ctx.Manager.RenewAsync(s_none));

        Assert.Equal(StatusCode.Unavailable, ex.StatusCode);
        Assert.Single(ctx.Ca.Requests);
        Assert.Same(good, ctx.Manager.Current);
    }

    [Theory]
    [InlineData(CaResponseFault.WrongSan, "not exactly the expected identity")]
    [InlineData(CaResponseFault.WrongKey, "public key")]
    [InlineData(CaResponseFault.ExpiredLeaf, "not now")]
    [InlineData(CaResponseFault.ForeignRoot, "does not chain")]
    [InlineData(CaResponseFault.SingleElementChain, "1 chain element")]
    [InlineData(CaResponseFault.RootFirst, "CA certificate")]
    public async Task Wrong_Answer_Is_Rejected_And_Not_Installed(CaResponseFault fault, string reason)
    {
        await using var ctx = await AgentTestContext.StartAsync();
        var good = await ctx.Manager.RenewAsync(s_none);
        ctx.Ca.Faults.Response = fault;

        var ex = await Assert.ThrowsAsync<WorkloadCertificateException>(() => ctx.Manager.RenewAsync(s_none));

        Assert.Equal(CertificateFailureKind.InvalidResponse, ex.Kind);
        Assert.Contains(reason, ex.Message, StringComparison.Ordinal);
        Assert.Same(good, ctx.Manager.Current);
    }

    [Fact]
    public async Task Token_For_Another_ServiceAccount_Yields_A_Certificate_That_Is_Refused()
    {
        // istiod issues the token's identity whatever the CSR says; only our SAN check notices.
        await using var ctx = await AgentTestContext.StartAsync();
        ctx.WriteToken(ctx.Ca.CreateToken(AgentTestContext.Namespace, "someone-else"));

        var ex = await Assert.ThrowsAsync<WorkloadCertificateException>(() => ctx.Manager.RenewAsync(s_none));

        Assert.Equal(CertificateFailureKind.InvalidResponse, ex.Kind);
        Assert.Equal("spiffe://cluster.local/ns/apps/sa/someone-else", ctx.Ca.Requests[^1].Identity);
        Assert.Null(ctx.Manager.Current);
    }

    [Fact]
    public async Task Multi_Root_Bundle_Is_Accepted_With_Every_Root()
    {
        await using var ctx = await AgentTestContext.StartAsync();
        ctx.Ca.Faults.Response = CaResponseFault.MultiRootBundle;

        var certificate = await ctx.Manager.RenewAsync(s_none);

        Assert.Equal([ctx.Ca.Ca.Root.Thumbprint, ctx.Ca.ForeignCa.Root.Thumbprint], certificate.TrustBundle.Select(r => r.Thumbprint));
    }

    [Fact]
    public async Task Intermediate_Ca_Is_Accepted()
    {
        await using var ctx = await AgentTestContext.StartAsync(caOptions: new IstiodCaDoubleOptions { WithIntermediate = true });
        var certificate = await ctx.Manager.RenewAsync(s_none);
        Assert.Equal(ctx.Ca.Ca.Intermediate!.Thumbprint, Assert.Single(certificate.Intermediates).Thumbprint);
    }

    [Fact]
    public async Task Missing_Or_Empty_Token_Fails_Locally_Without_Calling_Istiod()
    {
        await using var ctx = await AgentTestContext.StartAsync();
        ctx.WriteToken("  \n");
        var empty = await Assert.ThrowsAsync<WorkloadCertificateException>(() => ctx.Manager.RenewAsync(s_none));
        File.Delete(ctx.Options.TokenPath);
        var missing = await Assert.ThrowsAsync<WorkloadCertificateException>(() => ctx.Manager.RenewAsync(s_none));

        Assert.Equal(CertificateFailureKind.LocalConfiguration, empty.Kind);
        Assert.Equal(CertificateFailureKind.LocalConfiguration, missing.Kind);
        Assert.Empty(ctx.Ca.Requests);
    }

    [Fact]
    public async Task Slow_Istiod_Hits_The_Deadline()
    {
        await using var ctx = await AgentTestContext.StartAsync(o => o.CaRequestTimeout = TimeSpan.FromMilliseconds(300));
        ctx.Ca.Faults.Delay = TimeSpan.FromSeconds(10);
        var ex = await Assert.ThrowsAsync<WorkloadCertificateException>(() => ctx.Manager.RenewAsync(s_none));
        Assert.Equal(StatusCode.DeadlineExceeded, ex.StatusCode);
    }

    [Fact]
    public async Task Dropped_Connection_Is_A_Transient_Error()
    {
        await using var ctx = await AgentTestContext.StartAsync();
        ctx.Ca.Faults.DropConnection = true;
        var ex = await Assert.ThrowsAsync<WorkloadCertificateException>(() => ctx.Manager.RenewAsync(s_none));
        Assert.Contains(ex.StatusCode, new StatusCode?[] { StatusCode.Unavailable, StatusCode.Internal });
        ctx.Ca.Faults.DropConnection = false;
        await ctx.Manager.RenewAsync(s_none);
    }

    [Theory]
    [InlineData(StatusCode.ResourceExhausted)]
    [InlineData(StatusCode.Internal)]
    [InlineData(StatusCode.Unavailable)]
    public async Task Injected_Ca_Errors_Surface_With_Their_Code(StatusCode code) =>
        await AssertCaErrorAsync(ctx => ctx.Ca.Faults.FailWith(code), code);

    private static async Task AssertCaErrorAsync(Action<AgentTestContext> breakIt, StatusCode expected)
    {
        await using var ctx = await AgentTestContext.StartAsync();
        var good = await ctx.Manager.RenewAsync(s_none);
        breakIt(ctx);

        var ex = await Assert.ThrowsAsync<WorkloadCertificateException>(() => ctx.Manager.RenewAsync(s_none));

        Assert.Equal(CertificateFailureKind.CaError, ex.Kind);
        Assert.Equal(expected, ex.StatusCode);
        Assert.Contains(expected.ToString(), ex.Message, StringComparison.Ordinal);
        Assert.Same(good, ctx.Manager.Current);
        ctx.AssertLogsHoldNoSecrets();
    }
}
