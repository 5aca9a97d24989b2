using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Waypoint.Agent.Certificates;

/// <summary>Reads the URI SANs .NET does not expose (X509SubjectAlternativeNameExtension has DNS and IP only).</summary>
public static class X509Names
{
    private const string SubjectAltNameOid = "2.5.29.17";
    private static readonly Asn1Tag s_uriTag = new(TagClass.ContextSpecific, 6);

    /// <summary>The URI entries of the certificate's SAN extension, verbatim (no <see cref="Uri"/> normalisation).</summary>
    public static IReadOnlyList<string> GetUriSans(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        var uris = new List<string>();
        foreach (var extension in certificate.Extensions)
        {
            if (extension.Oid?.Value != SubjectAltNameOid)
            {
                continue;
            }

            try
            {
                var reader = new AsnReader(extension.RawData, AsnEncodingRules.DER);
                var names = reader.ReadSequence();
                while (names.HasData)
                {
                    if (names.PeekTag().HasSameClassAndValue(s_uriTag))
                    {
                        uris.Add(names.ReadCharacterString(UniversalTagNumber.IA5String, s_uriTag));
                    }
                    else
                    {
                        names.ReadEncodedValue();
                    }
                }
            }
            catch (AsnContentException ex)
            {
                throw new CryptographicException("The certificate's subjectAltName extension is malformed.", ex);
            }
        }

        return uris;
    }

    /// <summary>A critical SAN extension holding exactly these URIs, encoded byte for byte (System.Uri may normalise).</summary>
    public static X509Extension BuildUriSanExtension(IEnumerable<string> uris, bool critical = true)
    {
        ArgumentNullException.ThrowIfNull(uris);
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            foreach (var uri in uris)
            {
                writer.WriteCharacterString(UniversalTagNumber.IA5String, uri, s_uriTag);
            }
        }

        return new X509Extension(SubjectAltNameOid, writer.Encode(), critical);
    }
}
