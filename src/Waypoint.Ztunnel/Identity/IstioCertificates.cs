using System.Security.Cryptography.X509Certificates;
using System.Text;
using Waypoint.Agent;
using Waypoint.Agent.Ca;
using Waypoint.Agent.Certificates;

namespace Waypoint.Ztunnel.Identity;

/// <summary>An issued SPIFFE certificate: the validated chain (leaf first) and its PKCS#8 key (never log it).</summary>
internal sealed record IssuedCertificate(WorkloadCertificate Certificate, string PrivateKeyPem);

/// <summary>One CreateCertificate round: a fresh P-256 key and CSR for <c>identity</c>, the CA's answer validated against the mesh roots.</summary>
internal static class IstioCertificates
{
    public static async Task<IssuedCertificate> IssueAsync(ICertificateAuthorityClient ca, string identity, TimeSpan ttl, string rootCertificatePath, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var csr = WorkloadCsr.Create(identity, WorkloadKeyType.EcdsaP256);
        var chain = await ca.CreateCertificateAsync(csr.CsrPem, ttl, cancellationToken).ConfigureAwait(false);
        var roots = new X509Certificate2Collection();
        roots.ImportFromPemFile(rootCertificatePath);
        var certificate = CertificateResponseValidator.Validate(chain, identity, csr.SubjectPublicKeyInfo, csr.PrivateKeyPem, [.. roots], now);
        return new IssuedCertificate(certificate, Encoding.UTF8.GetString(csr.PrivateKeyPem));
    }
}
