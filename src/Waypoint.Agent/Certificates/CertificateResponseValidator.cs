using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Waypoint.Agent.Certificates;

/// <summary>
/// Trusts nothing in a CreateCertificate answer until checked: the first element is a single non-CA leaf, its only
/// URI SAN is exactly the expected identity, its public key is ours, it is within its validity, and it chains
/// through the returned intermediates to a root of the returned bundle (the last element).
/// </summary>
internal static class CertificateResponseValidator
{
    public static WorkloadCertificate Validate(
        IReadOnlyList<string> certChain,
        string expectedIdentity,
        byte[] expectedSubjectPublicKeyInfo,
        byte[] privateKeyPem,
        IReadOnlyList<X509Certificate2> configuredRoots,
        DateTimeOffset now)
    {
        if (certChain.Count < 2)
        {
            throw Invalid($"the CA returned {certChain.Count} chain element(s); expected the leaf first and the root bundle last");
        }

        var leafElement = ParseElement(certChain[0], "leaf (element 0)");
        var leaf = leafElement[0];
        var intermediates = leafElement.Skip(1).ToList();
        for (var i = 1; i < certChain.Count - 1; i++)
        {
            intermediates.AddRange(ParseElement(certChain[i], $"intermediate (element {i})"));
        }

        var roots = ParseElement(certChain[^1], $"root bundle (element {certChain.Count - 1})");

        if (leaf.Extensions.OfType<X509BasicConstraintsExtension>().Any(b => b.CertificateAuthority))
        {
            throw Invalid($"the first element is a CA certificate (subject '{leaf.Subject}'), not a workload leaf");
        }

        IReadOnlyList<string> uris;
        try
        {
            uris = X509Names.GetUriSans(leaf);
        }
        catch (CryptographicException ex)
        {
            throw Invalid(ex.Message);
        }

        if (uris.Count != 1 || !string.Equals(uris[0], expectedIdentity, StringComparison.Ordinal))
        {
            throw Invalid($"the leaf's URI SANs [{string.Join(", ", uris)}] are not exactly the expected identity '{expectedIdentity}' (istiod issues the token's identity)");
        }

        if (!leaf.PublicKey.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(expectedSubjectPublicKeyInfo))
        {
            throw Invalid($"the leaf (serial {leaf.SerialNumber}) does not carry the public key of our request");
        }

        var notBefore = new DateTimeOffset(leaf.NotBefore.ToUniversalTime());
        var notAfter = new DateTimeOffset(leaf.NotAfter.ToUniversalTime());
        if (now < notBefore || now >= notAfter)
        {
            throw Invalid($"the leaf (serial {leaf.SerialNumber}) is valid from {notBefore:O} to {notAfter:O}, not now ({now:O})");
        }

        using (var chain = new X509Chain())
        {
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            chain.ChainPolicy.VerificationTime = now.UtcDateTime;
            chain.ChainPolicy.DisableCertificateDownloads = true;
            chain.ChainPolicy.CustomTrustStore.AddRange(roots.ToArray());
            chain.ChainPolicy.ExtraStore.AddRange(intermediates.ToArray());
            if (!chain.Build(leaf))
            {
                var status = string.Join("; ", chain.ChainStatus.Select(s => $"{s.Status}: {s.StatusInformation.Trim()}"));
                throw Invalid($"the leaf (serial {leaf.SerialNumber}) does not chain to a root of the returned bundle ({status})");
            }
        }

        // ROOTCA: istiod's bundle first, then configured roots it does not already hold (pilot-agent merges them too).
        var bundle = new List<X509Certificate2>(roots);
        foreach (var root in configuredRoots)
        {
            if (!bundle.Any(r => r.RawDataMemory.Span.SequenceEqual(root.RawDataMemory.Span)))
            {
                bundle.Add(root);
            }
        }

        return new WorkloadCertificate(expectedIdentity, leaf, intermediates, bundle, privateKeyPem, now);
    }

    private static List<X509Certificate2> ParseElement(string pem, string what)
    {
        var collection = new X509Certificate2Collection();
        try
        {
            collection.ImportFromPem(pem);
        }
        catch (CryptographicException ex)
        {
            throw Invalid($"the {what} is not valid PEM: {ex.Message}");
        }

        if (collection.Count == 0)
        {
            throw Invalid($"the {what} holds no certificate");
        }

        return [.. collection];
    }

    private static WorkloadCertificateException Invalid(string reason) =>
        new(CertificateFailureKind.InvalidResponse, "Rejected the CA's answer: " + reason + ".");
}
