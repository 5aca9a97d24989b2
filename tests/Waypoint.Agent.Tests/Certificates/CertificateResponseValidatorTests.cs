using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Time.Testing;
using Waypoint.Agent.Certificates;
using Waypoint.Agent.DevCa;

namespace Waypoint.Agent.Tests.Certificates;

public sealed class CertificateResponseValidatorTests : IDisposable
{
    private const string Identity = "spiffe://cluster.local/ns/apps/sa/waypoint";
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);
    private readonly DevCertificateAuthority _ca;
    private readonly DevCertificateAuthority _foreign;
    private readonly WorkloadCsr _csr = WorkloadCsr.Create(Identity, WorkloadKeyType.EcdsaP256);

    public CertificateResponseValidatorTests()
    {
        _ca = DevCertificateAuthority.Create(timeProvider: _time);
        _foreign = DevCertificateAuthority.Create(timeProvider: _time);
    }

    public void Dispose()
    {
        _ca.Dispose();
        _foreign.Dispose();
    }

    [Fact]
    public void Accepts_A_Correct_Answer()
    {
        var certificate = Validate(_ca.Sign(_csr.CsrPem, 3600, Identity));
        Assert.Equal(Identity, certificate.Identity);
        Assert.Equal([_ca.Root.Thumbprint], certificate.TrustBundle.Select(r => r.Thumbprint));
        Assert.Equal(1, CountPem(certificate.CertificateChainPem));
        using var withKey = certificate.CreateLeafWithPrivateKey();
        Assert.True(withKey.HasPrivateKey);
    }

    [Fact]
    public void Accepts_An_Intermediate_And_Serves_It_In_The_Chain()
    {
        using var ca = DevCertificateAuthority.Create(withIntermediate: true, timeProvider: _time);
        var certificate = Validate(ca.Sign(_csr.CsrPem, 3600, Identity));
        Assert.Equal(ca.Intermediate!.Thumbprint, Assert.Single(certificate.Intermediates).Thumbprint);
        Assert.Equal(2, CountPem(certificate.CertificateChainPem));
    }

    [Fact]
    public void Keeps_Every_Root_Of_A_Multi_Root_Bundle_And_Merges_Configured_Roots()
    {
        var chain = _ca.Sign(_csr.CsrPem, 3600, Identity).ToList();
        chain[^1] += _foreign.RootCertificatePem;
        using var configured = DevCertificateAuthority.Create(timeProvider: _time);
        var certificate = CertificateResponseValidator.Validate(chain, Identity, _csr.SubjectPublicKeyInfo, _csr.PrivateKeyPem, [configured.Root, _ca.Root], _time.GetUtcNow());
        Assert.Equal([_ca.Root.Thumbprint, _foreign.Root.Thumbprint, configured.Root.Thumbprint], certificate.TrustBundle.Select(r => r.Thumbprint));
        Assert.Equal(3, CountPem(certificate.TrustBundlePem));
    }

    [Fact]
    public void Rejects_A_Single_Element()
    {
        var ex = Assert.Throws<WorkloadCertificateException>(() => Validate([_ca.Sign(_csr.CsrPem, 3600, Identity)[0]]));
        Assert.Equal(CertificateFailureKind.InvalidResponse, ex.Kind);
        Assert.Contains("1 chain element", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Rejects_A_Wrong_San() =>
        AssertRejected(_ca.Sign(_csr.CsrPem, 3600, "spiffe://cluster.local/ns/apps/sa/other"), "not exactly the expected identity");

    [Fact]
    public void Rejects_A_San_In_Another_Trust_Domain() =>
        AssertRejected(_ca.Sign(_csr.CsrPem, 3600, "spiffe://evil.local/ns/apps/sa/waypoint"), "not exactly the expected identity");

    [Fact]
    public void Rejects_A_Leaf_With_Another_Key()
    {
        var other = WorkloadCsr.Create(Identity, WorkloadKeyType.EcdsaP256);
        AssertRejected(_ca.Sign(other.CsrPem, 3600, Identity), "public key");
    }

    [Fact]
    public void Rejects_An_Expired_Leaf()
    {
        var chain = _ca.Sign(_csr.CsrPem, 60, Identity);
        _time.Advance(TimeSpan.FromMinutes(2));
        AssertRejected(chain, "not now");
    }

    [Fact]
    public void Rejects_A_Leaf_From_A_Foreign_Root() =>
        AssertRejected([_foreign.Sign(_csr.CsrPem, 3600, Identity)[0], _ca.RootBundlePem], "does not chain");

    [Fact]
    public void Rejects_A_Ca_Certificate_In_First_Position() =>
        AssertRejected([_ca.RootCertificatePem, _ca.RootBundlePem], "CA certificate");

    [Fact]
    public void Rejects_Garbage() =>
        AssertRejected(["hello", _ca.RootBundlePem], "holds no certificate");

    private WorkloadCertificate Validate(IReadOnlyList<string> chain) =>
        CertificateResponseValidator.Validate(chain, Identity, _csr.SubjectPublicKeyInfo, _csr.PrivateKeyPem, [], _time.GetUtcNow());

    private void AssertRejected(IReadOnlyList<string> chain, string reason)
    {
        var ex = Assert.Throws<WorkloadCertificateException>(() => Validate(chain));
        Assert.Equal(CertificateFailureKind.InvalidResponse, ex.Kind);
        Assert.Contains(reason, ex.Message, StringComparison.Ordinal);
        Assert.Equal("invalid_response", ex.MetricCode);
    }

    private static int CountPem(string pem) => pem.Split("-----BEGIN CERTIFICATE-----").Length - 1;
}
