using System.Net;

namespace Waypoint.Agent;

/// <summary>The key algorithm the agent generates for each rotation.</summary>
public enum WorkloadKeyType
{
    /// <summary>ECDSA on P-256 with SHA-256 (ztunnel's choice; small and fast).</summary>
    EcdsaP256,

    /// <summary>RSA 2048 with SHA-256 (pilot-agent's default).</summary>
    Rsa2048,
}

/// <summary>
/// Settings of the <c>waypoint agent</c>: whose identity to request, where istiod is, and where to serve SDS.
/// Defaults match a waypoint pod in an Istio ambient mesh.
/// </summary>
public sealed class AgentOptions
{
    public const string DefaultCaAddress = "istiod.istio-system.svc:15012";
    public const string DefaultRootCertPath = "/var/run/secrets/istio/root-cert.pem";
    public const string DefaultTokenPath = "/var/run/secrets/tokens/istio-token";
    public const string DefaultSocketPath = "/var/run/secrets/workload-spiffe-uds/socket";

    /// <summary>istiod's maximum workload certificate lifetime (<c>MAX_WORKLOAD_CERT_TTL</c>).</summary>
    public static readonly TimeSpan MaxCertificateTtl = TimeSpan.FromDays(90);

    /// <summary>SPIFFE trust domain (meshConfig.trustDomain).</summary>
    public string TrustDomain { get; set; } = "cluster.local";

    /// <summary>The pod's namespace (<c>POD_NAMESPACE</c>).</summary>
    public string Namespace { get; set; } = string.Empty;

    /// <summary>The pod's service account (<c>SERVICE_ACCOUNT</c>).</summary>
    public string ServiceAccount { get; set; } = string.Empty;

    /// <summary>istiod's CA as <c>host:port</c>. The host is also the TLS server name istiod's certificate must carry.</summary>
    public string CaAddress { get; set; } = DefaultCaAddress;

    /// <summary>
    /// Optional <c>ip:port</c> to dial instead of resolving <see cref="CaAddress"/> (like curl's <c>--resolve</c>):
    /// the TLS server name stays the host of <see cref="CaAddress"/>. For local rigs and tests.
    /// </summary>
    public string? CaConnectAddress { get; set; }

    /// <summary>The mesh root(s) that istiod's serving certificate must chain to (<c>root-cert.pem</c> of ConfigMap <c>istio-ca-root-cert</c>).</summary>
    public string RootCertPath { get; set; } = DefaultRootCertPath;

    /// <summary>The projected ServiceAccount token with audience <c>istio-ca</c>; re-read on every call.</summary>
    public string TokenPath { get; set; } = DefaultTokenPath;

    /// <summary>Sent as the <c>clusterid</c> header (<c>CLUSTER_ID</c>).</summary>
    public string ClusterId { get; set; } = "Kubernetes";

    /// <summary>Extra request headers for the CA (<c>CA_HEADER_*</c>).</summary>
    public IDictionary<string, string> CaHeaders { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    public WorkloadKeyType KeyType { get; set; } = WorkloadKeyType.EcdsaP256;

    /// <summary>Requested certificate lifetime (<c>SECRET_TTL</c>). istiod may issue a shorter one; rotation follows the issued one.</summary>
    public TimeSpan CertificateTtl { get; set; } = TimeSpan.FromHours(24);

    /// <summary>Fraction of the remaining lifetime left when rotating (0.5 rotates at about half the lifetime).</summary>
    public double GracePeriodRatio { get; set; } = 0.5;

    /// <summary>Random spread (±) added to <see cref="GracePeriodRatio"/> so that replicas do not rotate in lockstep.</summary>
    public double GracePeriodJitter { get; set; } = 0.02;

    /// <summary>Deadline of one CreateCertificate call.</summary>
    public TimeSpan CaRequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>First delay after a transient CA error (Unavailable, DeadlineExceeded, Internal, ResourceExhausted); doubles up to <see cref="MaxRetryDelay"/>.</summary>
    public TimeSpan InitialRetryDelay { get; set; } = TimeSpan.FromMilliseconds(500);

    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Delay after an error a retry will not fix soon (Unauthenticated, InvalidArgument, a wrong answer).</summary>
    public TimeSpan RejectedRetryDelay { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>The SDS Unix socket shared with Envoy (its directory must be pod-private).</summary>
    public string SocketPath { get; set; } = DefaultSocketPath;

    /// <summary>The SPIFFE ID this pod must be issued: <c>spiffe://&lt;td&gt;/ns/&lt;ns&gt;/sa/&lt;sa&gt;</c>.</summary>
    public string ExpectedIdentity => SpiffeId.ForServiceAccount(TrustDomain, Namespace, ServiceAccount);

    /// <summary>All problems at once, each naming the setting; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (!SpiffeId.IsValidTrustDomain(TrustDomain))
        {
            errors.Add($"TrustDomain '{TrustDomain}' is not a valid SPIFFE trust domain (lower-case letters, digits, '.', '-', '_').");
        }

        if (string.IsNullOrWhiteSpace(Namespace) || Namespace.Contains('/', StringComparison.Ordinal))
        {
            errors.Add("Namespace is required (POD_NAMESPACE) and must not contain '/'.");
        }

        if (string.IsNullOrWhiteSpace(ServiceAccount) || ServiceAccount.Contains('/', StringComparison.Ordinal))
        {
            errors.Add("ServiceAccount is required (SERVICE_ACCOUNT) and must not contain '/'.");
        }

        if (!TryParseHostPort(CaAddress, out _, out _))
        {
            errors.Add($"CaAddress '{CaAddress}' must be host:port.");
        }

        if (CaConnectAddress is not null && !IPEndPoint.TryParse(CaConnectAddress, out _))
        {
            errors.Add($"CaConnectAddress '{CaConnectAddress}' must be ip:port.");
        }

        if (string.IsNullOrWhiteSpace(RootCertPath))
        {
            errors.Add("RootCertPath is required.");
        }

        if (string.IsNullOrWhiteSpace(TokenPath))
        {
            errors.Add("TokenPath is required.");
        }

        if (CertificateTtl <= TimeSpan.Zero || CertificateTtl > MaxCertificateTtl)
        {
            errors.Add($"CertificateTtl {CertificateTtl} must be positive and at most {MaxCertificateTtl.TotalDays} days (istiod rejects longer).");
        }

        if (GracePeriodRatio is <= 0 or >= 1 || GracePeriodJitter < 0 || GracePeriodJitter >= Math.Min(GracePeriodRatio, 1 - GracePeriodRatio))
        {
            errors.Add("GracePeriodRatio must be in (0, 1) and GracePeriodJitter smaller than its distance to 0 and 1.");
        }

        if (CaRequestTimeout <= TimeSpan.Zero || InitialRetryDelay <= TimeSpan.Zero || MaxRetryDelay < InitialRetryDelay || RejectedRetryDelay <= TimeSpan.Zero)
        {
            errors.Add("CaRequestTimeout and the retry delays must be positive, with MaxRetryDelay >= InitialRetryDelay.");
        }

        if (string.IsNullOrWhiteSpace(SocketPath))
        {
            errors.Add("SocketPath is required.");
        }
        else if (System.Text.Encoding.UTF8.GetByteCount(SocketPath) > 107)
        {
            errors.Add($"SocketPath '{SocketPath}' is longer than a Unix socket path may be (107 bytes).");
        }

        foreach (var name in CaHeaders.Keys)
        {
            if (name.Length == 0 || name.Any(c => char.IsUpper(c) || char.IsWhiteSpace(c)) || name is "authorization" or "clusterid")
            {
                errors.Add($"CaHeaders key '{name}' must be a lower-case header name other than authorization and clusterid.");
            }
        }

        return errors;
    }

    internal static bool TryParseHostPort(string? value, out string host, out int port)
    {
        host = string.Empty;
        port = 0;
        if (string.IsNullOrWhiteSpace(value))
        {
            return false;
        }

        var colon = value.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(value.AsSpan(colon + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535)
        {
            return false;
        }

        host = value[..colon].Trim('[', ']');
        return host.Length > 0;
    }
}
