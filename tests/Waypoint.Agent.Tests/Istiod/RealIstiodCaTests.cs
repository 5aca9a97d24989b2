using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.Versioning;
using System.Security.Cryptography.X509Certificates;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Waypoint.Agent.Ca;
using Waypoint.Agent.Certificates;
using Waypoint.Box;
using Waypoint.TestKit.Box;
using Xunit.Abstractions;

namespace Waypoint.Agent.Tests.Istiod;

/// <summary>
/// The agent's CA client against the real istiod of the box (its CA on 15012, TLS verified against the root istiod
/// publishes in every namespace, a TokenRequest token of audience <c>istio-ca</c>): what istiod issues, checked by the
/// same validator the agent applies, so the double (<c>IstiodCaDouble</c>) can be held to it.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class RealIstiodCaTests(SharedBoxFixture box, ITestOutputHelper output) : IClassFixture<SharedBoxFixture>
{
    private const string Ns = "ca-real";
    private const string ServiceAccount = "app";
    private const string Identity = "spiffe://cluster.local/ns/" + Ns + "/sa/" + ServiceAccount;

    [Fact]
    public async Task Istiod_Issues_A_Leaf_And_Root_For_The_Tokens_Identity_With_The_Asked_Lifetime()
    {
        using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        using var admin = box.Connection.CreateKubernetesClient();
        var directory = Directory.CreateTempSubdirectory("real-istiod-ca-").FullName;
        try
        {
            var (tokenPath, rootPath) = await PrepareWorkloadAsync(admin, directory, cancel.Token);
            using var client = new IstioCaClient(
                Options.Create(new AgentOptions
                {
                    TrustDomain = "cluster.local",
                    Namespace = Ns,
                    ServiceAccount = ServiceAccount,
                    CaAddress = "istiod.istio-system.svc:" + BoxPorts.IstiodSecureGrpc,
                    RootCertPath = rootPath,
                    TokenPath = tokenPath,
                }),
                NullLogger<IstioCaClient>.Instance,
                handler => handler.ConnectCallback = async (_, ct) =>
                    new NetworkStream(await box.Connection.Network.ConnectAsync(new IPEndPoint(IPAddress.Loopback, BoxPorts.IstiodSecureGrpc), ct), ownsSocket: true));

            var csr = WorkloadCsr.Create(Identity, WorkloadKeyType.EcdsaP256);
            var chain = await client.CreateCertificateAsync(csr.CsrPem, TimeSpan.FromHours(1), cancel.Token);

            Assert.Equal(2, chain.Count); // [leaf, root]
            var roots = new List<X509Certificate2> { X509CertificateLoader.LoadCertificateFromFile(rootPath) };
            var certificate = CertificateResponseValidator.Validate(chain, Identity, csr.SubjectPublicKeyInfo, csr.PrivateKeyPem, roots, DateTimeOffset.UtcNow);
            using var leaf = X509Certificate2.CreateFromPem(chain[0]);
            Assert.Equal("O=cluster.local", leaf.Issuer);
            Assert.NotNull(leaf.GetECDsaPublicKey());
            var lifetime = leaf.NotAfter - leaf.NotBefore;
            Assert.InRange(lifetime, TimeSpan.FromHours(1), TimeSpan.FromHours(1) + TimeSpan.FromMinutes(5)); // istiod backdates NotBefore
            output.WriteLine($"leaf {leaf.Subject} issuer {leaf.Issuer}, {leaf.NotBefore:O} .. {leaf.NotAfter:O} ({lifetime}); validated until {certificate.NotAfter:O}");

            // The latency figure of the notes (not an assertion): 100 calls on one connection.
            var samples = new List<double>(100);
            for (var i = 0; i < 100; i++)
            {
                var started = Stopwatch.GetTimestamp();
                _ = await client.CreateCertificateAsync(csr.CsrPem, TimeSpan.FromHours(1), cancel.Token);
                samples.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }

            samples.Sort();
            output.WriteLine($"CreateCertificate against the real istiod: p50 {samples[49]:F1} ms, p99 {samples[98]:F1} ms over 100 calls");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task A_Csr_Naming_Another_Identity_Still_Gets_The_Tokens_Identity_Which_The_Agent_Refuses()
    {
        using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        using var admin = box.Connection.CreateKubernetesClient();
        var directory = Directory.CreateTempSubdirectory("real-istiod-ca-").FullName;
        try
        {
            var (tokenPath, rootPath) = await PrepareWorkloadAsync(admin, directory, cancel.Token);
            using var client = new IstioCaClient(
                Options.Create(new AgentOptions { CaAddress = "istiod.istio-system.svc:" + BoxPorts.IstiodSecureGrpc, RootCertPath = rootPath, TokenPath = tokenPath }),
                NullLogger<IstioCaClient>.Instance,
                handler => handler.ConnectCallback = async (_, ct) =>
                    new NetworkStream(await box.Connection.Network.ConnectAsync(new IPEndPoint(IPAddress.Loopback, BoxPorts.IstiodSecureGrpc), ct), ownsSocket: true));

            const string other = "spiffe://cluster.local/ns/" + Ns + "/sa/someone-else";
            var csr = WorkloadCsr.Create(other, WorkloadKeyType.EcdsaP256);
            var chain = await client.CreateCertificateAsync(csr.CsrPem, TimeSpan.FromHours(1), cancel.Token);

            // istiod takes the identity from the token, not the CSR.
            using var leaf = X509Certificate2.CreateFromPem(chain[0]);
            Assert.Contains("URI:" + Identity, leaf.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single().Format(false), StringComparison.Ordinal);
            var roots = new List<X509Certificate2> { X509CertificateLoader.LoadCertificateFromFile(rootPath) };
            Assert.ThrowsAny<Exception>(() => CertificateResponseValidator.Validate(chain, other, csr.SubjectPublicKeyInfo, csr.PrivateKeyPem, roots, DateTimeOffset.UtcNow));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>The workload's namespace and ServiceAccount, its istio-ca token and the root istiod wrote into the namespace.</summary>
    private static async Task<(string TokenPath, string RootPath)> PrepareWorkloadAsync(Kubernetes admin, string directory, CancellationToken cancellationToken)
    {
        await IgnoreConflictAsync(() => admin.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = Ns } }, cancellationToken: cancellationToken));
        await IgnoreConflictAsync(() => admin.CoreV1.CreateNamespacedServiceAccountAsync(new V1ServiceAccount { Metadata = new V1ObjectMeta { Name = ServiceAccount } }, Ns, cancellationToken: cancellationToken));
        var token = await admin.CoreV1.CreateNamespacedServiceAccountTokenAsync(
            new Authenticationv1TokenRequest { Spec = new V1TokenRequestSpec { Audiences = ["istio-ca"], ExpirationSeconds = 3600 } },
            ServiceAccount,
            Ns,
            cancellationToken: cancellationToken);
        var tokenPath = Path.Combine(directory, "istio-token");
        await File.WriteAllTextAsync(tokenPath, token.Status.Token, cancellationToken);

        string? root = null;
        while (root is null)
        {
            try
            {
                var configMap = await admin.CoreV1.ReadNamespacedConfigMapAsync("istio-ca-root-cert", Ns, cancellationToken: cancellationToken);
                root = configMap.Data?.TryGetValue("root-cert.pem", out var pem) == true ? pem : null;
            }
            catch (HttpOperationException ex) when (ex.Response.StatusCode == HttpStatusCode.NotFound)
            {
                // istiod writes it shortly after the namespace appears; this waits on the real istiod, bounded by the token.
            }

            if (root is null)
            {
                await Task.Delay(100, cancellationToken);
            }
        }

        var rootPath = Path.Combine(directory, "root-cert.pem");
        await File.WriteAllTextAsync(rootPath, root, cancellationToken);
        return (tokenPath, rootPath);
    }

    private static async Task IgnoreConflictAsync<T>(Func<Task<T>> create)
    {
        try
        {
            await create();
        }
        catch (HttpOperationException ex) when (ex.Response.StatusCode == HttpStatusCode.Conflict)
        {
        }
    }
}
