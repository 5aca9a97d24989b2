using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Waypoint.Agent.Certificates;

namespace Waypoint.Agent.Tests.Certificates;

public sealed class WorkloadCsrTests
{
    private const string Identity = "spiffe://cluster.local/ns/apps/sa/waypoint";

    [Theory]
    [InlineData(WorkloadKeyType.EcdsaP256, "1.2.840.10045.2.1")]
    [InlineData(WorkloadKeyType.Rsa2048, "1.2.840.113549.1.1.1")]
    public void Csr_Has_EmptySubject_CriticalUriSan_And_ValidSignature(WorkloadKeyType keyType, string keyAlgorithmOid)
    {
        var csr = WorkloadCsr.Create(Identity, keyType);

        // Default load options verify the self-signature (proof of possession).
        var request = CertificateRequest.LoadSigningRequestPem(csr.CsrPem, HashAlgorithmName.SHA256, CertificateRequestLoadOptions.UnsafeLoadCertificateExtensions);
        Assert.Equal([0x30, 0x00], request.SubjectName.RawData);
        Assert.Equal(keyAlgorithmOid, request.PublicKey.Oid.Value);
        var san = Assert.Single(request.CertificateExtensions, e => e.Oid?.Value == "2.5.29.17");
        Assert.True(san.Critical);
        using var probe = CertificateWithExtension(san);
        Assert.Equal([Identity], X509Names.GetUriSans(probe));
        Assert.Equal(request.PublicKey.ExportSubjectPublicKeyInfo(), csr.SubjectPublicKeyInfo);
    }

    [Fact]
    public void PrivateKey_Is_Pkcs8_And_Matches_The_Request()
    {
        var csr = WorkloadCsr.Create(Identity, WorkloadKeyType.EcdsaP256);
        var pem = Encoding.ASCII.GetString(csr.PrivateKeyPem);
        Assert.StartsWith("-----BEGIN PRIVATE KEY-----", pem, StringComparison.Ordinal);
        using var key = ECDsa.Create();
        key.ImportFromPem(pem);
        Assert.Equal(csr.SubjectPublicKeyInfo, key.ExportSubjectPublicKeyInfo());
    }

    [Fact]
    public void Every_Call_Makes_A_Fresh_Key()
    {
        var a = WorkloadCsr.Create(Identity, WorkloadKeyType.EcdsaP256);
        var b = WorkloadCsr.Create(Identity, WorkloadKeyType.EcdsaP256);
        Assert.NotEqual(a.SubjectPublicKeyInfo, b.SubjectPublicKeyInfo);
    }

    [Fact]
    public void UriSan_RoundTrips_Byte_For_Byte()
    {
        const string odd = "spiffe://Cluster.Local/ns/a%2Fb/sa/x";
        using var cert = CertificateWithExtension(X509Names.BuildUriSanExtension([odd]));
        Assert.Equal([odd], X509Names.GetUriSans(cert));
        var reader = new AsnReader(cert.Extensions["2.5.29.17"]!.RawData, AsnEncodingRules.DER).ReadSequence();
        Assert.Equal(odd, reader.ReadCharacterString(UniversalTagNumber.IA5String, new Asn1Tag(TagClass.ContextSpecific, 6)));
    }

    private static X509Certificate2 CertificateWithExtension(X509Extension extension)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName(string.Empty), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(extension);
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddMinutes(5));
    }
}
