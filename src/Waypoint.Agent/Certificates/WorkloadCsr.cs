using System.Text;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.Pkcs;
using Org.BouncyCastle.Asn1.Sec;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Crypto.Operators;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.Pkcs;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.X509;

namespace Waypoint.Agent.Certificates;

/// <summary>
/// A fresh key pair and the PKCS#10 request istiod signs: empty subject (a CN would switch istiod to "dual-use"),
/// one URI SAN (the SPIFFE ID) in a critical extension, signed with the new key (proof of possession).
/// </summary>
internal sealed class WorkloadCsr
{
    private static readonly SecureRandom s_random = new();

    private WorkloadCsr(string csrPem, byte[] privateKeyPem, byte[] subjectPublicKeyInfo)
    {
        CsrPem = csrPem;
        PrivateKeyPem = privateKeyPem;
        SubjectPublicKeyInfo = subjectPublicKeyInfo;
    }

    public string CsrPem { get; }

    /// <summary>PKCS#8 PEM. Never log it.</summary>
    public byte[] PrivateKeyPem { get; }

    /// <summary>DER SubjectPublicKeyInfo of the new key, to recognise our key in the issued leaf.</summary>
    public byte[] SubjectPublicKeyInfo { get; }

    public static WorkloadCsr Create(string spiffeId, WorkloadKeyType keyType)
    {
        ArgumentException.ThrowIfNullOrEmpty(spiffeId);
        var keyPair = GenerateKeyPair(keyType);
        var signatureAlgorithm = keyType == WorkloadKeyType.Rsa2048 ? "SHA256WITHRSA" : "SHA256WITHECDSA";

        var extensions = new X509ExtensionsGenerator();
        extensions.AddExtension(
            X509Extensions.SubjectAlternativeName,
            critical: true,
            new GeneralNames(new GeneralName(GeneralName.UniformResourceIdentifier, spiffeId)));
        var attributes = new DerSet(new AttributePkcs(PkcsObjectIdentifiers.Pkcs9AtExtensionRequest, new DerSet(extensions.Generate())));

        var request = new Pkcs10CertificationRequest(
            new Asn1SignatureFactory(signatureAlgorithm, keyPair.Private, s_random),
            X509Name.GetInstance(DerSequence.Empty),
            keyPair.Public,
            attributes);

        var csrPem = ToPem("CERTIFICATE REQUEST", request.GetEncoded());
        var privateKeyPem = Encoding.ASCII.GetBytes(ToPem("PRIVATE KEY", PrivateKeyInfoFactory.CreatePrivateKeyInfo(keyPair.Private).GetEncoded()));
        var spki = SubjectPublicKeyInfoFactory.CreateSubjectPublicKeyInfo(keyPair.Public).GetDerEncoded();
        return new WorkloadCsr(csrPem, privateKeyPem, spki);
    }

    private static AsymmetricCipherKeyPair GenerateKeyPair(WorkloadKeyType keyType)
    {
        if (keyType == WorkloadKeyType.Rsa2048)
        {
            var rsa = new RsaKeyPairGenerator();
            rsa.Init(new RsaKeyGenerationParameters(BigInteger.ValueOf(65537), s_random, 2048, 100));
            return rsa.GenerateKeyPair();
        }

        // The named-curve OID (not explicit parameters) so the SubjectPublicKeyInfo matches what every CA copies.
        var ec = new ECKeyPairGenerator("ECDSA");
        ec.Init(new ECKeyGenerationParameters(SecObjectIdentifiers.SecP256r1, s_random));
        return ec.GenerateKeyPair();
    }

    private static string ToPem(string label, byte[] der) =>
        new string(System.Security.Cryptography.PemEncoding.Write(label, der)) + "\n";
}
