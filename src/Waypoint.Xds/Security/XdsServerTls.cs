using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Logging;
using Waypoint.Agent;
using Waypoint.Agent.Certificates;
using Waypoint.Xds.Diagnostics;

namespace Waypoint.Xds.Security;

/// <summary>
/// The xDS listener's side of mutual TLS. It serves the control plane's own workload certificate (obtained from
/// istiod's CA and rotated by <see cref="WorkloadCertificateManager"/>, like a waypoint agent's), asks every client
/// for its workload certificate and admits only one that chains to the mesh roots of that certificate's trust bundle
/// and names exactly one SPIFFE identity of the same trust domain. A client without a certificate completes the
/// handshake but is refused by the ADS service (Unauthenticated), so the refusal carries a status.
/// </summary>
public sealed class XdsServerTls
{
    private static readonly Oid s_clientAuthentication = new("1.3.6.1.5.5.7.3.2", "Client Authentication");

    private readonly WorkloadCertificateManager _certificates;
    private readonly TimeProvider _time;
    private readonly ILogger<XdsServerTls> _logger;
    private readonly Lock _lock = new();
    private (WorkloadCertificate Certificate, SslStreamCertificateContext Context)? _served;

    public XdsServerTls(WorkloadCertificateManager certificates, TimeProvider timeProvider, ILogger<XdsServerTls> logger)
    {
        _certificates = certificates ?? throw new ArgumentNullException(nameof(certificates));
        _time = timeProvider ?? throw new ArgumentNullException(nameof(timeProvider));
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
    }

    /// <summary>Whether a certificate is installed and valid: until then every handshake fails.</summary>
    public bool IsReady => _certificates.IsReady;

    /// <summary>Kestrel's per-connection TLS options (the current certificate: a rotation applies to the next handshake).</summary>
    public ValueTask<SslServerAuthenticationOptions> OnConnectionAsync(TlsHandshakeCallbackContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var current = _certificates.Current
            ?? throw new AuthenticationException("The xDS server has no certificate from the mesh CA yet.");
        var peer = context.Connection.RemoteEndPoint?.ToString() ?? "(unknown)";
        return ValueTask.FromResult(new SslServerAuthenticationOptions
        {
            ServerCertificateContext = ContextFor(current),
            ClientCertificateRequired = true,
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            ApplicationProtocols = [SslApplicationProtocol.Http2],
            RemoteCertificateValidationCallback = (_, certificate, chain, _) =>
            {
                if (certificate is null)
                {
                    return true;
                }

                using var presented = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
                var extra = chain?.ChainPolicy.ExtraStore.Cast<X509Certificate2>().ToArray() ?? [];
                if (Authenticate(presented, extra, out var reason) is not null)
                {
                    return true;
                }

                XdsServerLog.ClientCertificateRejected(_logger, peer, reason);
                return false;
            },
        });
    }

    /// <summary>
    /// The verified identity of <paramref name="certificate"/>, or null with the reason (names the certificate's
    /// serial and SANs, nothing secret). Intermediates: <paramref name="presentedIntermediates"/> and our own chain's.
    /// </summary>
    public XdsPeerIdentity? Authenticate(X509Certificate2 certificate, IReadOnlyCollection<X509Certificate2> presentedIntermediates, out string reason)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        ArgumentNullException.ThrowIfNull(presentedIntermediates);
        if (_certificates.Current is not { } own)
        {
            reason = "the server has no mesh certificate (and so no trust bundle) yet";
            return null;
        }

        if (certificate.Extensions.OfType<X509BasicConstraintsExtension>().Any(b => b.CertificateAuthority))
        {
            reason = $"certificate serial {certificate.SerialNumber} is a CA certificate, not a workload certificate";
            return null;
        }

        IReadOnlyList<string> uris;
        try
        {
            uris = X509Names.GetUriSans(certificate);
        }
        catch (CryptographicException ex)
        {
            reason = $"certificate serial {certificate.SerialNumber}: {ex.Message}";
            return null;
        }

        var ownTrustDomain = XdsPeerIdentity.TryParse(own.Identity)?.TrustDomain;
        if (uris.Count != 1 || XdsPeerIdentity.TryParse(uris[0]) is not { } identity || identity.TrustDomain != ownTrustDomain)
        {
            reason = $"certificate serial {certificate.SerialNumber} does not name exactly one workload identity of trust domain '{ownTrustDomain}' (URI SANs: [{string.Join(", ", uris)}])";
            return null;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.DisableCertificateDownloads = true;
        chain.ChainPolicy.VerificationTime = _time.GetUtcNow().UtcDateTime;
        chain.ChainPolicy.CustomTrustStore.AddRange(own.TrustBundle.ToArray());
        chain.ChainPolicy.ExtraStore.AddRange(presentedIntermediates.Concat(own.Intermediates).ToArray());
        chain.ChainPolicy.ApplicationPolicy.Add(s_clientAuthentication);
        if (!chain.Build(certificate))
        {
            var status = string.Join("; ", chain.ChainStatus.Select(s => s.Status.ToString()).Distinct(StringComparer.Ordinal));
            reason = $"certificate serial {certificate.SerialNumber} of '{identity}' does not chain to the mesh root for client authentication ({status})";
            return null;
        }

        reason = string.Empty;
        return identity;
    }

    private SslStreamCertificateContext ContextFor(WorkloadCertificate certificate)
    {
        lock (_lock)
        {
            if (_served is { } served && ReferenceEquals(served.Certificate, certificate))
            {
                return served.Context;
            }

            // Built once per rotation: the context holds the key and the intermediates sent with the leaf.
            var context = SslStreamCertificateContext.Create(
                certificate.CreateLeafWithPrivateKey(), new X509Certificate2Collection(certificate.Intermediates.ToArray()), offline: true);
            _served = (certificate, context);
            return context;
        }
    }
}
