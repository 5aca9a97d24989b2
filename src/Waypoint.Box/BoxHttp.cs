using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Waypoint.Box.Network;

namespace Waypoint.Box;

/// <summary>HTTP clients for the box's TLS endpoints: trust only the box's CA, optionally present a client certificate.</summary>
public static class BoxHttp
{
    /// <summary>Trusts <paramref name="caCertificatePath"/> alone and presents the client certificate, if one is given.</summary>
    public static void ConfigureTls(SocketsHttpHandler handler, string caCertificatePath, string? clientCertificatePath = null, string? clientKeyPath = null)
    {
        ArgumentNullException.ThrowIfNull(handler);
        var ca = X509CertificateLoader.LoadCertificateFromFile(caCertificatePath);
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
        {
            if (certificate is null || (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != SslPolicyErrors.None)
            {
                return false;
            }

            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(ca);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            using var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
            return chain.Build(leaf);
        };
        if (clientCertificatePath is not null && clientKeyPath is not null)
        {
            using var pem = X509Certificate2.CreateFromPemFile(clientCertificatePath, clientKeyPath);
            var client = X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
            handler.SslOptions.ClientCertificates = [client];
        }
    }

    /// <summary>
    /// A client of the API server at <paramref name="server"/> (its <see cref="HttpClient.BaseAddress"/>), authenticated
    /// with a client certificate; through <paramref name="network"/> when the caller is outside the box.
    /// </summary>
    public static HttpClient CreateApiClient(Uri server, string caCertificatePath, string clientCertificatePath, string clientKeyPath, BoxNetworkNamespace? network = null)
    {
        var handler = network?.CreateHandler() ?? new SocketsHttpHandler { UseProxy = false };
        ConfigureTls(handler, caCertificatePath, clientCertificatePath, clientKeyPath);
        return new HttpClient(handler) { BaseAddress = server, Timeout = TimeSpan.FromSeconds(30) };
    }
}
