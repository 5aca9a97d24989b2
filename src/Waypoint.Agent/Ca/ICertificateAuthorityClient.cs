namespace Waypoint.Agent.Ca;

/// <summary>Something that signs a workload CSR: istiod in a cluster (<see cref="IstioCaClient"/>), or a fake in tests.</summary>
public interface ICertificateAuthorityClient
{
    /// <summary>
    /// Sends <paramref name="csrPem"/> asking for <paramref name="ttl"/>; returns the raw <c>cert_chain</c> (leaf first,
    /// root bundle last), which the caller must still validate. Failures are <see cref="Certificates.WorkloadCertificateException"/>.
    /// </summary>
    Task<IReadOnlyList<string>> CreateCertificateAsync(string csrPem, TimeSpan ttl, CancellationToken cancellationToken);
}
