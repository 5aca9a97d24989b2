using System.Diagnostics;
using System.Globalization;
using System.Runtime.Versioning;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Waypoint.Agent;
using Waypoint.Agent.Ca;
using Waypoint.Agent.Certificates;
using Waypoint.Box;
using Waypoint.TestKit.Box;
using Waypoint.TestKit.Ca;

namespace Waypoint.Benchmarks;

/// <summary>
/// The agent against the real istiod of a fresh <c>waypoint box</c> (root):
/// <c>istiod-ca [N]</c> — CreateCertificate latency from the agent's CA client, N calls (100) on one connection, p50/p99,
/// beside the same calls to the in-process istiod double (the baseline of the same run);
/// <c>istiod-outage [MINUTES] [TTL_SECONDS]</c> — the agent with Envoy over SDS and a request every 200 ms on a new
/// mTLS connection while istiod is paused (SIGSTOP) for MINUTES (10), starting 5 s after a certificate was issued with
/// TTL_SECONDS (900: its rotation falls inside the outage, its expiry after it); reports failed requests, lapses,
/// failed CA calls and when the next certificate came.
/// </summary>
[SupportedOSPlatform("linux")]
internal static class IstiodCertificates
{
    public static async Task<int> RunLatencyAsync(string[] args)
    {
        var calls = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 100;
        await using var box = BoxProcess.Start();
        await box.WaitReadyAsync();
        using var connection = await KubernetesBox.AttachAsync(box.StatePath, CancellationToken.None);
        using var admin = connection.CreateKubernetesClient();
        var directory = Directory.CreateTempSubdirectory("istiod-ca-bench-").FullName;
        try
        {
            var workload = await RealIstiod.PrepareWorkloadAsync(admin, "bench", "app", directory, CancellationToken.None);
            using var real = RealIstiod.CreateClient(connection, workload);
            await using var ca = await IstiodCaDouble.StartAsync();
            var doubleOptions = new AgentOptions { Namespace = workload.Namespace, ServiceAccount = workload.ServiceAccount };
            ca.Configure(doubleOptions, directory);
            using var fake = new IstioCaClient(Options.Create(doubleOptions), NullLogger<IstioCaClient>.Instance);

            var csr = WorkloadCsr.Create(workload.Identity, WorkloadKeyType.EcdsaP256);
            var realSamples = await MeasureAsync(real, csr.CsrPem, calls);
            var doubleSamples = await MeasureAsync(fake, csr.CsrPem, calls);
            Console.WriteLine($"CreateCertificate, {calls} calls on one connection (ECDSA P-256 CSR, 1 h asked):");
            Console.WriteLine($"  real istiod:  p50 {Percentile(realSamples, 0.50):F1} ms, p99 {Percentile(realSamples, 0.99):F1} ms");
            Console.WriteLine($"  istiod double: p50 {Percentile(doubleSamples, 0.50):F1} ms, p99 {Percentile(doubleSamples, 0.99):F1} ms");
            Console.WriteLine($"  ratio real/double: p50 {Percentile(realSamples, 0.50) / Percentile(doubleSamples, 0.50):F2}, p99 {Percentile(realSamples, 0.99) / Percentile(doubleSamples, 0.99):F2}");
            return 0;
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    public static async Task<int> RunOutageAsync(string[] args)
    {
        var outage = TimeSpan.FromMinutes(args.Length > 0 ? double.Parse(args[0], CultureInfo.InvariantCulture) : 10);
        var ttl = TimeSpan.FromSeconds(args.Length > 1 ? double.Parse(args[1], CultureInfo.InvariantCulture) : 900);
        await using var box = BoxProcess.Start();
        await box.WaitReadyAsync();
        using var connection = await KubernetesBox.AttachAsync(box.StatePath, CancellationToken.None);
        using var admin = connection.CreateKubernetesClient();
        var directory = Directory.CreateTempSubdirectory("istiod-outage-bench-").FullName;
        try
        {
            var workload = await RealIstiod.PrepareWorkloadAsync(admin, "bench", "waypoint", directory, CancellationToken.None);
            var peer = await RealIstiod.PrepareWorkloadAsync(admin, "bench", "client", directory, CancellationToken.None);
            using var clientCertificate = await IssueAsync(connection, peer);
            var options = new AgentOptions
            {
                Namespace = workload.Namespace,
                ServiceAccount = workload.ServiceAccount,
                CaAddress = RealIstiod.CaAddress,
                RootCertPath = workload.RootPath,
                TokenPath = workload.TokenPath,
                SocketPath = Path.Combine(directory, "sds", "socket"),
                CertificateTtl = ttl,
            };
            await using var agent = await ServingAgent.StartAsync(
                options,
                sp => new IstioCaClient(sp.GetRequiredService<IOptions<AgentOptions>>(), sp.GetRequiredService<ILogger<IstioCaClient>>(), RealIstiod.ThroughBox(connection)),
                line => Console.WriteLine(line));
            await using var probe = MeshRequestProbe.Start(agent.MeshEndPoint, agent.Roots(), clientCertificate, TimeSpan.FromMilliseconds(200));
            var first = agent.Manager.Current!;
            var wait = first.ReceivedAt + TimeSpan.FromSeconds(5) - DateTimeOffset.UtcNow;
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait);
            }

            var pid = await RealIstiod.ProcessIdAsync(box, CancellationToken.None);
            var clock = Stopwatch.StartNew();
            await RealIstiod.SignalAsync(pid, "STOP", CancellationToken.None);
            Console.WriteLine($"istiod (pid {pid}) paused at {DateTimeOffset.UtcNow:HH:mm:ss} for {outage}; certificate valid until {first.NotAfter:HH:mm:ss}, rotation due {agent.Manager.NextRotation:HH:mm:ss}");
            try
            {
                await Task.Delay(outage);
            }
            finally
            {
                await RealIstiod.SignalAsync(pid, "CONT", CancellationToken.None);
            }

            var duringOutage = agent.TransientFailures;
            var installedDuringOutage = agent.Installed.Count - 1;
            Console.WriteLine($"istiod resumed after {clock.Elapsed.TotalSeconds:F0} s; failed CA calls during the outage {duringOutage}, certificates installed during it {installedDuringOutage}");
            var resumed = DateTimeOffset.UtcNow;
            while (agent.Installed.Count < 2 && DateTimeOffset.UtcNow < first.NotAfter + TimeSpan.FromMinutes(1))
            {
                await Task.Delay(100);
            }

            await Task.Delay(TimeSpan.FromSeconds(5));
            await probe.StopAsync();
            var installed = agent.Installed;
            var lapse = installed.Count < 2 || installed[1].ReceivedAt >= first.NotAfter;
            Console.WriteLine($"next certificate {(installed.Count > 1 ? $"{(installed[1].ReceivedAt - resumed).TotalSeconds:F1} s after istiod resumed, {(first.NotAfter - installed[1].ReceivedAt).TotalSeconds:F0} s before the old one expired" : "never came")}");
            var latencies = probe.Latencies.Order().ToList();
            Console.WriteLine($"requests {probe.Succeeded} ok, {probe.Failures.Count} failed, {probe.Lapses} served with an invalid certificate, {probe.ServedCertificates} certificates served; " +
                $"request p50 {Percentile(latencies, 0.5):F1} ms p99 {Percentile(latencies, 0.99):F1} ms; certificate lapse: {(lapse ? "YES" : "no")}");
            foreach (var failure in probe.Failures.Take(20))
            {
                Console.WriteLine("  failed: " + failure);
            }

            return probe.Failures.Count == 0 && probe.Lapses == 0 && !lapse ? 0 : 1;
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static async Task<List<double>> MeasureAsync(IstioCaClient client, string csrPem, int calls)
    {
        _ = await client.CreateCertificateAsync(csrPem, TimeSpan.FromHours(1), CancellationToken.None); // the connection and TLS
        var samples = new List<double>(calls);
        for (var i = 0; i < calls; i++)
        {
            var started = Stopwatch.GetTimestamp();
            _ = await client.CreateCertificateAsync(csrPem, TimeSpan.FromHours(1), CancellationToken.None);
            samples.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }

        samples.Sort();
        return samples;
    }

    private static double Percentile(List<double> sorted, double p) =>
        sorted.Count == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Count) - 1, 0, sorted.Count - 1)];

    private static async Task<X509Certificate2> IssueAsync(BoxConnection connection, RealIstiodWorkload workload)
    {
        using var client = RealIstiod.CreateClient(connection, workload);
        var csr = WorkloadCsr.Create(workload.Identity, WorkloadKeyType.EcdsaP256);
        var chain = await client.CreateCertificateAsync(csr.CsrPem, TimeSpan.FromHours(1), CancellationToken.None);
        var roots = new List<X509Certificate2> { X509CertificateLoader.LoadCertificateFromFile(workload.RootPath) };
        return CertificateResponseValidator.Validate(chain, workload.Identity, csr.SubjectPublicKeyInfo, csr.PrivateKeyPem, roots, DateTimeOffset.UtcNow).CreateLeafWithPrivateKey();
    }
}
