using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Microsoft.Extensions.Time.Testing;
using Waypoint.Agent.Certificates;
using Waypoint.Agent.DevCa;

namespace Waypoint.Agent.Tests.DevCa;

public sealed class DevCertificateAuthorityTests
{
    private const string Identity = "spiffe://cluster.local/ns/apps/sa/waypoint";
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);

    [Fact]
    public void Sign_Issues_The_Callers_Identity_Ignoring_The_Csr_San()
    {
        using var ca = DevCertificateAuthority.Create(timeProvider: _time);
        var csr = WorkloadCsr.Create("spiffe://cluster.local/ns/apps/sa/someone-else", WorkloadKeyType.EcdsaP256);

        var chain = ca.Sign(csr.CsrPem, 3600, Identity);

        Assert.Equal(2, chain.Count);
        Assert.All(chain, e => Assert.EndsWith("\n", e, StringComparison.Ordinal));
        using var leaf = X509Certificate2.CreateFromPem(chain[0]);
        Assert.Equal([Identity], X509Names.GetUriSans(leaf));
        Assert.True(leaf.Extensions["2.5.29.17"]!.Critical);
        Assert.Equal([0x30, 0x00], leaf.SubjectName.RawData);
        Assert.False(Assert.Single(leaf.Extensions.OfType<X509BasicConstraintsExtension>()).CertificateAuthority);
        var eku = Assert.Single(leaf.Extensions.OfType<X509EnhancedKeyUsageExtension>());
        Assert.Equal(["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"], eku.EnhancedKeyUsages.Cast<Oid>().Select(o => o.Value));
        Assert.Equal(csr.SubjectPublicKeyInfo, leaf.PublicKey.ExportSubjectPublicKeyInfo());
        Assert.Equal(_time.GetUtcNow().AddMinutes(-2).ToUnixTimeSeconds(), new DateTimeOffset(leaf.NotBefore).ToUnixTimeSeconds(), tolerance: 1);
        Assert.Equal(_time.GetUtcNow().AddHours(1).ToUnixTimeSeconds(), new DateTimeOffset(leaf.NotAfter).ToUnixTimeSeconds(), tolerance: 1);
        Assert.Equal(ca.RootCertificatePem, chain[1]);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-5)]
    public void Ttl_Zero_Or_Less_Gets_The_24h_Default(long seconds)
    {
        using var ca = DevCertificateAuthority.Create(timeProvider: _time);
        var chain = ca.Sign(WorkloadCsr.Create(Identity, WorkloadKeyType.EcdsaP256).CsrPem, seconds, Identity);
        using var leaf = X509Certificate2.CreateFromPem(chain[0]);
        Assert.Equal(_time.GetUtcNow().AddHours(24).ToUnixTimeSeconds(), new DateTimeOffset(leaf.NotAfter).ToUnixTimeSeconds(), tolerance: 1);
    }

    [Fact]
    public void Ttl_Over_90_Days_Is_InvalidArgument_Not_Clamped()
    {
        using var ca = DevCertificateAuthority.Create(timeProvider: _time);
        var ex = Assert.Throws<RpcException>(() => ca.Sign(WorkloadCsr.Create(Identity, WorkloadKeyType.EcdsaP256).CsrPem, (long)TimeSpan.FromDays(91).TotalSeconds, Identity));
        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
    }

    [Fact]
    public void NotAfter_Is_Clamped_To_The_Signer_And_An_Expired_Signer_Is_Internal()
    {
        using var ca = DevCertificateAuthority.Create(timeProvider: _time, rootLifetime: TimeSpan.FromHours(2));
        var csr = WorkloadCsr.Create(Identity, WorkloadKeyType.EcdsaP256).CsrPem;
        using var leaf = X509Certificate2.CreateFromPem(ca.Sign(csr, 86400, Identity)[0]);
        Assert.Equal(ca.Root.NotAfter, leaf.NotAfter);

        _time.Advance(TimeSpan.FromHours(3));
        Assert.Equal(StatusCode.Internal, Assert.Throws<RpcException>(() => ca.Sign(csr, 60, Identity)).StatusCode);
    }

    [Theory]
    [InlineData("")]
    [InlineData("not a csr")]
    [InlineData("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n")]
    public void Malformed_Csr_Is_InvalidArgument(string csr)
    {
        using var ca = DevCertificateAuthority.Create(timeProvider: _time);
        var ex = Assert.Throws<RpcException>(() => ca.Sign(csr, 60, Identity));
        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        Assert.StartsWith("CSR signing error", ex.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Csr_With_A_Broken_Signature_Is_InvalidArgument()
    {
        using var ca = DevCertificateAuthority.Create(timeProvider: _time);
        var pem = WorkloadCsr.Create(Identity, WorkloadKeyType.Rsa2048).CsrPem;
        var der = Convert.FromBase64String(pem[PemEncoding.Find(pem).Base64Data]);
        der[^3] ^= 0x5A; // inside the signature
        var tampered = new string(PemEncoding.Write("CERTIFICATE REQUEST", der));
        Assert.Equal(StatusCode.InvalidArgument, Assert.Throws<RpcException>(() => ca.Sign(tampered, 60, Identity)).StatusCode);
    }

    [Fact]
    public void Intermediate_Appears_Between_Leaf_And_Root()
    {
        using var ca = DevCertificateAuthority.Create(withIntermediate: true, timeProvider: _time);
        var chain = ca.Sign(WorkloadCsr.Create(Identity, WorkloadKeyType.EcdsaP256).CsrPem, 600, Identity);
        Assert.Equal(3, chain.Count);
        using var leaf = X509Certificate2.CreateFromPem(chain[0]);
        Assert.Equal(ca.Intermediate!.Subject, leaf.Issuer);
        Assert.Equal(ca.RootBundlePem, chain[2]);
    }
}
