using System.Runtime.Versioning;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Waypoint.Agent.Ca;
using Waypoint.Agent.Certificates;
using Waypoint.TestKit.Box;
using Waypoint.TestKit.Ca;
using Waypoint.TestKit.Pki;
using Xunit.Abstractions;

namespace Waypoint.Agent.Tests.Istiod;

/// <summary>
/// The agent, Envoy over SDS and steady mTLS traffic while the box's real istiod is paused across a rotation (an
/// outage: it accepts TCP and answers nothing) and then restarted: the agent keeps the valid certificate, retries with
/// backoff, rotates when istiod answers again, and no request fails. Seconds-scale with a 30 s certificate; the
/// 10-minute outage is <c>bench istiod-outage</c>.
/// </summary>
[Collection(RealIstiodTests.Name)]
[SupportedOSPlatform("linux")]
public sealed class IstiodOutageTests(SharedBoxFixture box, ITestOutputHelper output)
{
    private const string Ns = "ca-outage";

    /// <summary>Safety net for a loaded 2-core machine, not a timed assertion.</summary>
    private static readonly TimeSpan s_limit = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task Rotation_Rides_Out_An_Istiod_Outage_And_A_Restart_With_No_Lapse_And_No_Failed_Request()
    {
        using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(6));
        using var admin = box.Connection.CreateKubernetesClient();
        using var directory = new TestDirectory();
        var workload = await RealIstiod.PrepareWorkloadAsync(admin, Ns, "waypoint", directory.Path, cancel.Token);
        var peer = await RealIstiod.PrepareWorkloadAsync(admin, Ns, "client", directory.Path, cancel.Token);
        using var clientCertificate = await IssueAsync(peer, cancel.Token);

        var options = new AgentOptions
        {
            Namespace = workload.Namespace,
            ServiceAccount = workload.ServiceAccount,
            CaAddress = RealIstiod.CaAddress,
            RootCertPath = workload.RootPath,
            TokenPath = workload.TokenPath,
            SocketPath = directory.File("workload-spiffe-uds/socket"),
            CertificateTtl = TimeSpan.FromSeconds(30),
            CaRequestTimeout = TimeSpan.FromSeconds(2),
            MaxRetryDelay = TimeSpan.FromSeconds(2),
        };
        await using var agent = await ServingAgent.StartAsync(
            options,
            sp => new IstioCaClient(sp.GetRequiredService<IOptions<AgentOptions>>(), sp.GetRequiredService<ILogger<IstioCaClient>>(), RealIstiod.ThroughBox(box.Connection)),
            cancellationToken: cancel.Token);
        var firstRoot = agent.Manager.Current!.TrustBundle.Single().Thumbprint;
        await using var probe = MeshRequestProbe.Start(agent.MeshEndPoint, agent.Roots(), clientCertificate, TimeSpan.FromMilliseconds(200));

        // A plain rotation first: the real istiod on a 30 s certificate.
        await WaitForInstalledAsync(agent, 2, cancel.Token);

        // Outage: istiod paused from just before the next rotation until the agent has failed and backed off twice.
        var beforeOutage = agent.Installed.Count;
        var failuresBefore = agent.TransientFailures;
        var rotateAt = agent.Manager.NextRotation;
        var pause = rotateAt - TimeSpan.FromSeconds(2) - DateTimeOffset.UtcNow;
        if (pause > TimeSpan.Zero)
        {
            await Task.Delay(pause, cancel.Token);
        }

        var pid = await RealIstiod.ProcessIdAsync(box.Process, cancel.Token);
        var paused = DateTimeOffset.UtcNow;
        await RealIstiod.SignalAsync(pid, "STOP", cancel.Token);
        try
        {
            await Until(() => agent.TransientFailures >= failuresBefore + 2, "the agent to fail twice against the paused istiod", cancel.Token);
            Assert.Equal(beforeOutage, agent.Installed.Count);
            Assert.True(agent.Manager.IsReady, "the agent keeps its valid certificate during the outage");
        }
        finally
        {
            await RealIstiod.SignalAsync(pid, "CONT", CancellationToken.None);
        }

        var resumed = DateTimeOffset.UtcNow;
        await WaitForInstalledAsync(agent, beforeOutage + 1, cancel.Token);
        var afterOutage = agent.Installed[^1];
        output.WriteLine($"outage {paused:HH:mm:ss.fff} .. {resumed:HH:mm:ss.fff} ({(resumed - paused).TotalSeconds:F1} s), {agent.TransientFailures - failuresBefore} failed CA calls; " +
            $"rotated at {afterOutage.ReceivedAt:HH:mm:ss.fff}, the old certificate valid until {agent.Installed[^2].NotAfter:HH:mm:ss.fff}");

        // Restart: SIGTERM, the box starts istiod again (its CA root lives in istio-ca-secret), the agent rotates.
        var beforeRestart = agent.Installed.Count;
        var newPid = await RealIstiod.RestartAsync(box.Process, cancel.Token);
        Assert.NotEqual(pid, newPid);
        var restarted = DateTimeOffset.UtcNow;
        await WaitForInstalledAsync(agent, beforeRestart + 1, cancel.Token);
        output.WriteLine($"istiod restarted (pid {pid} → {newPid}) at {restarted:HH:mm:ss.fff}; next certificate at {agent.Installed[^1].ReceivedAt:HH:mm:ss.fff}");
        Assert.Equal(firstRoot, agent.Installed[^1].TrustBundle.Single().Thumbprint);

        // One more probe round after the last rotation, then the verdict on the traffic.
        var served = probe.Succeeded;
        await Until(() => probe.Succeeded > served + 2, "requests after the restart", cancel.Token);
        await probe.StopAsync();
        var installed = agent.Installed;
        output.WriteLine($"{probe.Succeeded} requests, {probe.Failures.Count} failed, {probe.ServedCertificates} certificates served, {installed.Count} installed, {agent.TransientFailures} failed CA calls");
        Assert.True(probe.Failures.Count == 0, "failed requests:\n" + string.Join('\n', probe.Failures.Take(20)));
        Assert.Equal(0, probe.Lapses);
        Assert.True(probe.ServedCertificates >= 3, $"Envoy served {probe.ServedCertificates} certificates");
        for (var i = 1; i < installed.Count; i++)
        {
            Assert.True(installed[i].ReceivedAt < installed[i - 1].NotAfter, $"certificate {i} arrived at {installed[i].ReceivedAt:O}, after {i - 1} expired at {installed[i - 1].NotAfter:O}");
        }

        Assert.DoesNotContain(agent.Logs.GetSnapshot(), r => r.Id.Name == "CertificateExpired");
    }

    /// <summary>A mesh client's certificate (its own ServiceAccount) from the real istiod, with its key.</summary>
    private async Task<X509Certificate2> IssueAsync(RealIstiodWorkload workload, CancellationToken cancellationToken)
    {
        using var client = RealIstiod.CreateClient(box.Connection, workload);
        var csr = WorkloadCsr.Create(workload.Identity, WorkloadKeyType.EcdsaP256);
        var chain = await client.CreateCertificateAsync(csr.CsrPem, TimeSpan.FromHours(1), cancellationToken);
        var roots = new List<X509Certificate2> { X509CertificateLoader.LoadCertificateFromFile(workload.RootPath) };
        return CertificateResponseValidator.Validate(chain, workload.Identity, csr.SubjectPublicKeyInfo, csr.PrivateKeyPem, roots, DateTimeOffset.UtcNow).CreateLeafWithPrivateKey();
    }

    private static Task WaitForInstalledAsync(ServingAgent agent, int count, CancellationToken cancellationToken) =>
        Until(() => agent.Installed.Count >= count, $"{count} installed certificates", cancellationToken);

    private static async Task Until(Func<bool> condition, string what, CancellationToken cancellationToken)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(s_limit);
        while (!condition())
        {
            try
            {
                await Task.Delay(100, limit.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                Assert.Fail($"Timed out waiting for {what}.");
            }
        }
    }
}
