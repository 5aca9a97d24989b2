using System.Runtime.Versioning;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Waypoint.Agent.Ca;
using Waypoint.Agent.Certificates;
using Waypoint.TestKit.Box;
using Waypoint.TestKit.Ca;
using Waypoint.TestKit.Pki;
using Xunit.Abstractions;

namespace Waypoint.Agent.Tests.Istiod;

/// <summary>
/// The agent's CA client against the real istiod of the box (its CA on 15012, TLS verified against the root istiod
/// publishes in every namespace, a TokenRequest token of audience <c>istio-ca</c>): what istiod issues, checked by the
/// same validator the agent applies, and the double (<c>IstiodCaDouble</c>) held to it fact by fact.
/// </summary>
[Collection(RealIstiodTests.Name)]
[SupportedOSPlatform("linux")]
public sealed class RealIstiodCaTests(SharedBoxFixture box, ITestOutputHelper output)
{
    private const string Ns = "ca-real";
    private const string ServiceAccount = "app";

    [Fact]
    public async Task Istiod_Issues_A_Leaf_And_Root_For_The_Tokens_Identity_With_The_Asked_Lifetime()
    {
        using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        using var admin = box.Connection.CreateKubernetesClient();
        using var directory = new TestDirectory();
        var workload = await RealIstiod.PrepareWorkloadAsync(admin, Ns, ServiceAccount, directory.Path, cancel.Token);
        using var client = RealIstiod.CreateClient(box.Connection, workload);

        var csr = WorkloadCsr.Create(workload.Identity, WorkloadKeyType.EcdsaP256);
        var chain = await client.CreateCertificateAsync(csr.CsrPem, TimeSpan.FromHours(1), cancel.Token);

        Assert.Equal(2, chain.Count); // [leaf, root]
        var roots = new List<X509Certificate2> { X509CertificateLoader.LoadCertificateFromFile(workload.RootPath) };
        var certificate = CertificateResponseValidator.Validate(chain, workload.Identity, csr.SubjectPublicKeyInfo, csr.PrivateKeyPem, roots, DateTimeOffset.UtcNow);
        using var leaf = X509Certificate2.CreateFromPem(chain[0]);
        Assert.Equal("O=cluster.local", leaf.Issuer);
        Assert.NotNull(leaf.GetECDsaPublicKey());
        var lifetime = leaf.NotAfter - leaf.NotBefore;
        Assert.InRange(lifetime, TimeSpan.FromHours(1), TimeSpan.FromHours(1) + TimeSpan.FromMinutes(5)); // istiod backdates NotBefore
        output.WriteLine($"leaf {leaf.Subject} issuer {leaf.Issuer}, {leaf.NotBefore:O} .. {leaf.NotAfter:O} ({lifetime}); validated until {certificate.NotAfter:O}");
    }

    [Fact]
    public async Task A_Csr_Naming_Another_Identity_Still_Gets_The_Tokens_Identity_Which_The_Agent_Refuses()
    {
        using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        using var admin = box.Connection.CreateKubernetesClient();
        using var directory = new TestDirectory();
        var workload = await RealIstiod.PrepareWorkloadAsync(admin, Ns, ServiceAccount, directory.Path, cancel.Token);
        using var client = RealIstiod.CreateClient(box.Connection, workload);

        var other = $"spiffe://cluster.local/ns/{Ns}/sa/someone-else";
        var csr = WorkloadCsr.Create(other, WorkloadKeyType.EcdsaP256);
        var chain = await client.CreateCertificateAsync(csr.CsrPem, TimeSpan.FromHours(1), cancel.Token);

        // istiod takes the identity from the token, not the CSR.
        using var leaf = X509Certificate2.CreateFromPem(chain[0]);
        Assert.Equal([workload.Identity], X509Names.GetUriSans(leaf));
        var roots = new List<X509Certificate2> { X509CertificateLoader.LoadCertificateFromFile(workload.RootPath) };
        Assert.ThrowsAny<Exception>(() => CertificateResponseValidator.Validate(chain, other, csr.SubjectPublicKeyInfo, csr.PrivateKeyPem, roots, DateTimeOffset.UtcNow));
    }

    /// <summary>
    /// The same requests to the real istiod and to the double give certificates with the same shape: where they differ
    /// the double is wrong (issue #17), so this is the test that keeps it honest.
    /// </summary>
    [Theory]
    [InlineData(WorkloadKeyType.EcdsaP256, 3600)]
    [InlineData(WorkloadKeyType.Rsa2048, 600)]
    [InlineData(WorkloadKeyType.EcdsaP256, 0)] // no TTL asked: istiod's default (24 h)
    public async Task The_Double_Issues_What_The_Real_Istiod_Issues(WorkloadKeyType keyType, int ttlSeconds)
    {
        using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        using var admin = box.Connection.CreateKubernetesClient();
        using var directory = new TestDirectory();
        var workload = await RealIstiod.PrepareWorkloadAsync(admin, Ns, ServiceAccount, directory.Path, cancel.Token);
        using var real = RealIstiod.CreateClient(box.Connection, workload);
        await using var ca = await IstiodCaDouble.StartAsync(cancellationToken: cancel.Token);
        var doubleOptions = new AgentOptions { Namespace = workload.Namespace, ServiceAccount = workload.ServiceAccount };
        ca.Configure(doubleOptions, directory.Path);
        using var fake = new IstioCaClient(Microsoft.Extensions.Options.Options.Create(doubleOptions), Microsoft.Extensions.Logging.Abstractions.NullLogger<IstioCaClient>.Instance);

        var ttl = TimeSpan.FromSeconds(ttlSeconds);
        var fromReal = await IssueAsync(real, workload.Identity, keyType, ttl, cancel.Token);
        var fromDouble = await IssueAsync(fake, workload.Identity, keyType, ttl, cancel.Token);

        output.WriteLine($"real:   {fromReal}");
        output.WriteLine($"double: {fromDouble}");
        Assert.Equal(fromReal, fromDouble);
    }

    [Fact]
    public async Task A_Lifetime_Over_Istiods_Maximum_Is_Refused_By_Both_With_InvalidArgument()
    {
        using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        using var admin = box.Connection.CreateKubernetesClient();
        using var directory = new TestDirectory();
        var workload = await RealIstiod.PrepareWorkloadAsync(admin, Ns, ServiceAccount, directory.Path, cancel.Token);
        using var real = RealIstiod.CreateClient(box.Connection, workload);
        await using var ca = await IstiodCaDouble.StartAsync(cancellationToken: cancel.Token);
        var doubleOptions = new AgentOptions { Namespace = workload.Namespace, ServiceAccount = workload.ServiceAccount };
        ca.Configure(doubleOptions, directory.Path);
        using var fake = new IstioCaClient(Microsoft.Extensions.Options.Options.Create(doubleOptions), Microsoft.Extensions.Logging.Abstractions.NullLogger<IstioCaClient>.Instance);
        var csr = WorkloadCsr.Create(workload.Identity, WorkloadKeyType.EcdsaP256);

        var tooLong = TimeSpan.FromDays(91);
        var realError = await Assert.ThrowsAsync<WorkloadCertificateException>(() => real.CreateCertificateAsync(csr.CsrPem, tooLong, cancel.Token));
        var doubleError = await Assert.ThrowsAsync<WorkloadCertificateException>(() => fake.CreateCertificateAsync(csr.CsrPem, tooLong, cancel.Token));

        output.WriteLine($"real: {realError.Message}\ndouble: {doubleError.Message}");
        Assert.Equal((StatusCode?)StatusCode.InvalidArgument, realError.StatusCode);
        Assert.Equal(realError.StatusCode, doubleError.StatusCode);
        Assert.Equal(Detail(realError), Detail(doubleError));
    }

    /// <summary>istiod's own words, without the client's prefix (which names the address).</summary>
    private static string Detail(WorkloadCertificateException error) => ((RpcException)error.InnerException!).Status.Detail;

    private static async Task<IssuedShape> IssueAsync(IstioCaClient client, string identity, WorkloadKeyType keyType, TimeSpan ttl, CancellationToken cancellationToken)
    {
        var csr = WorkloadCsr.Create(identity, keyType);
        var asked = DateTimeOffset.UtcNow;
        var chain = await client.CreateCertificateAsync(csr.CsrPem, ttl, cancellationToken);
        return IssuedShape.Of(chain, asked, ttl);
    }

    /// <summary>What a client can see of an issued chain, with times relative to the call and rounded to tolerate its latency.</summary>
    private sealed record IssuedShape(
        int ChainLength,
        string LeafSubject,
        string LeafIssuer,
        bool LeafIsCa,
        string KeyAlgorithm,
        string KeyUsages,
        string ExtendedKeyUsages,
        string UriSans,
        bool SanCritical,
        int BackdatedMinutes,
        int LifetimeOverAskedMinutes,
        bool LastIsSelfSignedRoot,
        bool LeafSignedByLast)
    {
        public static IssuedShape Of(IReadOnlyList<string> chain, DateTimeOffset asked, TimeSpan ttl)
        {
            using var leaf = X509Certificate2.CreateFromPem(chain[0]);
            using var last = X509Certificate2.CreateFromPem(chain[^1]);
            var basic = leaf.Extensions.OfType<X509BasicConstraintsExtension>().SingleOrDefault();
            var usages = leaf.Extensions.OfType<X509KeyUsageExtension>().SingleOrDefault();
            var ekus = leaf.Extensions.OfType<X509EnhancedKeyUsageExtension>().SingleOrDefault();
            var san = leaf.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
            var effectiveTtl = ttl <= TimeSpan.Zero ? TimeSpan.FromHours(24) : ttl;
            using var chainCheck = new X509Chain { ChainPolicy = { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck } };
            chainCheck.ChainPolicy.CustomTrustStore.Add(last);
            return new IssuedShape(
                chain.Count,
                leaf.Subject,
                leaf.Issuer,
                basic?.CertificateAuthority ?? false,
                leaf.GetECDsaPublicKey() is not null ? "ECDSA" : leaf.GetRSAPublicKey() is { } rsa ? $"RSA{rsa.KeySize}" : "other",
                usages is null ? "none" : $"{usages.KeyUsages} critical={usages.Critical}",
                ekus is null ? "none" : string.Join(",", ekus.EnhancedKeyUsages.Cast<Oid>().Select(o => o.Value).Order(StringComparer.Ordinal)),
                string.Join(",", X509Names.GetUriSans(leaf)),
                san.Critical,
                (int)Math.Round((asked - new DateTimeOffset(leaf.NotBefore.ToUniversalTime())).TotalMinutes),
                (int)Math.Round((new DateTimeOffset(leaf.NotAfter.ToUniversalTime()) - asked - effectiveTtl).TotalMinutes),
                last.Subject == last.Issuer,
                chainCheck.Build(leaf));
        }
    }
}
