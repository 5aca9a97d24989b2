using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Waypoint.Agent.Sds;
using Waypoint.TestKit.Ca;
using Waypoint.TestKit.Pki;

namespace Waypoint.Agent.Tests.Hosting;

/// <summary><c>AddWorkloadCertificate</c>: a process's own certificate (the controller's xDS server) without SDS.</summary>
public sealed class WorkloadCertificateHostingTests
{
    [Fact]
    public async Task A_Host_Gets_The_Certificate_Of_Its_Own_Token_And_Serves_No_Sds()
    {
        await using var ca = await IstiodCaDouble.StartAsync();
        using var directory = new TestDirectory();
        var options = new AgentOptions { Namespace = "waypoint-system", ServiceAccount = "waypoint-controller", SocketPath = directory.File("must-not-exist/socket") };
        ca.Configure(options, directory.Path);
        var builder = Microsoft.Extensions.Hosting.Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Logging.ClearProviders();
        builder.Services.AddWorkloadCertificate(o => TestWorkloadAgent.CopyTo(options, o));
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            var certificate = await host.Services.GetRequiredService<WorkloadCertificateManager>().WaitForCertificateAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));

            Assert.Equal("spiffe://cluster.local/ns/waypoint-system/sa/waypoint-controller", certificate.Identity);
            Assert.Equal(certificate.Identity, Assert.Single(ca.Requests, r => r.Outcome == Grpc.Core.StatusCode.OK).Identity);
            Assert.Null(host.Services.GetService<SdsServer>());
            Assert.False(Directory.Exists(directory.File("must-not-exist")));
        }
        finally
        {
            await host.StopAsync();
        }
    }

    [Fact]
    public void Registering_Twice_Runs_One_Rotation_Loop()
    {
        var services = new ServiceCollection();
        services.AddWorkloadCertificate(_ => { });
        services.AddWaypointAgent(_ => { });
        Assert.Single(services, d => d.ServiceType == typeof(IHostedService) && d.ImplementationType?.Name == "WorkloadCertificateRotationService");
    }
}
