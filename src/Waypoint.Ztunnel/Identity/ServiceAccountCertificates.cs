using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Waypoint.Agent;
using Waypoint.Agent.Ca;
using Waypoint.Agent.Certificates;
using Waypoint.Ztunnel.Config;
using Waypoint.Ztunnel.Mesh;

namespace Waypoint.Ztunnel.Identity;

/// <summary>
/// One SPIFFE certificate per ServiceAccount with enrolled pods on the node: a TokenRequest token for that account
/// (audience istio-ca), a fresh P-256 key and CSR, istiod's CreateCertificate, every answer validated; written as the
/// account's SDS file (0600 in the 0700 key folder, atomic rename, so Envoy swaps it without a restart). Renewed at
/// half its issued lifetime; a failed renewal keeps the old certificate and retries with backoff until NotAfter.
/// </summary>
public sealed class ServiceAccountCertificates : IDisposable
{
    private static readonly TimeSpan s_tokenLifetime = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan s_minRetry = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan s_maxRetry = TimeSpan.FromSeconds(30);

    private readonly ZtunnelOptions _options;
    private readonly ZtunnelPaths _paths;
    private readonly KubernetesTokens _tokens;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Dictionary<ServiceAccountKey, Entry> _entries = [];

    public ServiceAccountCertificates(ZtunnelOptions options, ZtunnelPaths paths, KubernetesTokens tokens, ILoggerFactory loggerFactory, TimeProvider time)
    {
        _options = options;
        _paths = paths;
        _tokens = tokens;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger<ServiceAccountCertificates>();
        _time = time;
    }

    /// <summary>The accounts whose certificate is written and valid now.</summary>
    public IReadOnlySet<ServiceAccountKey> Ready
    {
        get
        {
            var now = _time.GetUtcNow();
            return _entries.Where(e => e.Value.Certificate?.IsValidAt(now) == true).Select(e => e.Key).ToHashSet();
        }
    }

    /// <summary>The earliest moment some account needs work (a renewal or a retry), or null.</summary>
    public DateTimeOffset? NextDue => _entries.Count == 0 ? null : _entries.Values.Min(e => e.Due);

    /// <summary>
    /// Forgets the accounts not listed and deletes their SDS files; call it once no listener or cluster names them
    /// (Envoy watches the files).
    /// </summary>
    public void RemoveAllBut(IReadOnlyList<ServiceAccountKey> accounts)
    {
        foreach (var gone in _entries.Keys.Except(accounts).ToList())
        {
            _entries[gone].Client.Dispose();
            _entries.Remove(gone);
            File.Delete(_paths.SecretFile(gone.FileName));
        }
    }

    /// <summary>Issues or renews what is due for <paramref name="accounts"/>.</summary>
    public async Task<bool> EnsureAsync(IReadOnlyList<ServiceAccountKey> accounts, CancellationToken cancellationToken)
    {
        var changed = false;
        foreach (var account in accounts)
        {
            if (!_entries.TryGetValue(account, out var entry))
            {
                entry = new Entry(CreateClient(account));
                _entries[account] = entry;
            }

            var now = _time.GetUtcNow();
            if (entry.Due > now)
            {
                continue;
            }

            try
            {
                entry.Certificate = await IssueAsync(account, entry.Client, cancellationToken).ConfigureAwait(false);
                entry.Failures = 0;
                var lifetime = entry.Certificate.NotAfter - entry.Certificate.NotBefore;
                entry.Due = entry.Certificate.NotBefore + (lifetime / 2);
                ZtunnelLog.CertificateIssued(_logger, account, entry.Certificate.SerialNumber, entry.Certificate.NotAfter, entry.Due);
                changed = true;
            }
            catch (Exception ex) when (ex is WorkloadCertificateException or HttpRequestException or IOException)
            {
                entry.Failures++;
                var delay = TimeSpan.FromTicks(Math.Min(s_maxRetry.Ticks, s_minRetry.Ticks << Math.Min(entry.Failures, 10)));
                entry.Due = now + delay;
                ZtunnelLog.CertificateFailed(_logger, account, delay.TotalMilliseconds, ex.Message);
            }
        }

        return changed;
    }

    public void Dispose()
    {
        foreach (var entry in _entries.Values)
        {
            entry.Client.Dispose();
        }

        _entries.Clear();
    }

    private async Task<WorkloadCertificate> IssueAsync(ServiceAccountKey account, IstioCaClient client, CancellationToken cancellationToken)
    {
        var identity = account.SpiffeId(_options.TrustDomain);
        var tokenPath = _paths.TokenFile(account.FileName);
        var token = await _tokens.RequestTokenAsync(account.Namespace, account.Name, s_tokenLifetime, cancellationToken).ConfigureAwait(false);
        ZtunnelFiles.WritePrivate(tokenPath, token);
        try
        {
            var issued = await IstioCertificates.IssueAsync(client, identity, _options.CertificateTtl, _paths.RootCertificate, _time.GetUtcNow(), cancellationToken).ConfigureAwait(false);
            ZtunnelFiles.WritePrivate(_paths.SecretFile(account.FileName), ZtunnelEnvoyConfig.SecretDocument(account, issued.Certificate.CertificateChainPem, issued.PrivateKeyPem));
            return issued.Certificate;
        }
        finally
        {
            // The token was only for this call.
            File.Delete(tokenPath);
        }
    }

    private IstioCaClient CreateClient(ServiceAccountKey account)
    {
        var agent = new AgentOptions
        {
            TrustDomain = _options.TrustDomain,
            Namespace = account.Namespace,
            ServiceAccount = account.Name,
            CaAddress = _options.IstiodHost + ":" + _options.IstiodEndpoint.Port,
            CaConnectAddress = _options.IstiodEndpoint.ToString(),
            RootCertPath = _paths.RootCertificate,
            TokenPath = _paths.TokenFile(account.FileName),
            ClusterId = _options.ClusterId,
        };
        return new IstioCaClient(Options.Create(agent), _loggerFactory.CreateLogger<IstioCaClient>());
    }

    private sealed class Entry(IstioCaClient client)
    {
        public IstioCaClient Client { get; } = client;

        public WorkloadCertificate? Certificate { get; set; }

        public DateTimeOffset Due { get; set; } = DateTimeOffset.MinValue;

        public int Failures { get; set; }
    }
}
