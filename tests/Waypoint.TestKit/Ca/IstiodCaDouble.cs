using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Istio.V1.Auth;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Waypoint.Agent;
using Waypoint.Agent.DevCa;

namespace Waypoint.TestKit.Ca;

/// <summary>Settings of an <see cref="IstiodCaDouble"/>.</summary>
public sealed record IstiodCaDoubleOptions
{
    public string TrustDomain { get; init; } = "cluster.local";

    public string ClusterId { get; init; } = "Kubernetes";

    public IReadOnlyList<string> ClusterAliases { get; init; } = [];

    /// <summary>Issue from an intermediate (a plugged-in <c>cacerts</c> CA) so answers carry a middle element.</summary>
    public bool WithIntermediate { get; init; }

    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    public ILoggerFactory? LoggerFactory { get; init; }
}

/// <summary>
/// A real gRPC server that behaves like istiod's CA (design note §6): its own root, TLS on loopback with istiod's
/// DNS names, token review through <see cref="UnsignedJwtTokenReviewer"/>, identity from the token (CSR SANs
/// ignored), istiod's TTL rules and codes. <see cref="Faults"/> makes it fail, stall or answer wrongly; every
/// request is recorded. Point an agent at it with <see cref="Configure"/>.
/// </summary>
public sealed class IstiodCaDouble : IAsyncDisposable
{
    private readonly IstiodCaDoubleOptions _options;
    private readonly List<RecordedCertificateRequest> _requests = [];
    private readonly X509Certificate2 _serverCertificate;
    private readonly Lazy<X509Certificate2> _wrongNameCertificate;
    private readonly Lazy<X509Certificate2> _foreignServerCertificate;
    private readonly Lazy<DevCertificateAuthority> _foreign;
    private readonly FaultyCaService _service;
    private DevCaServer? _server;

    private IstiodCaDouble(IstiodCaDoubleOptions options)
    {
        _options = options;
        Ca = DevCertificateAuthority.Create(options.TrustDomain, options.WithIntermediate, options.TimeProvider);
        TokenReviewer = new UnsignedJwtTokenReviewer(options.TimeProvider);
        _serverCertificate = Ca.IssueServerCertificate();
        _foreign = new(() => DevCertificateAuthority.Create(options.TrustDomain, timeProvider: options.TimeProvider));
        _wrongNameCertificate = new(() => Ca.IssueServerCertificate(["istiod.wrong-namespace.svc"]));
        _foreignServerCertificate = new(() => _foreign.Value.IssueServerCertificate());
        _service = new FaultyCaService(this, new IstiodAuthenticator(TokenReviewer, options.TrustDomain, options.ClusterId, options.ClusterAliases));
    }

    /// <summary>The mesh CA (root, optional intermediate); its root is what clients must trust.</summary>
    public DevCertificateAuthority Ca { get; }

    /// <summary>Another CA with the same trust domain, for "foreign root" cases.</summary>
    public DevCertificateAuthority ForeignCa => _foreign.Value;

    public UnsignedJwtTokenReviewer TokenReviewer { get; }

    public IstiodCaFaults Faults { get; } = new();

    public IPEndPoint EndPoint { get; private set; } = new(IPAddress.Loopback, 0);

    /// <summary>What an agent's CaAddress should be: istiod's name (what the TLS certificate carries) and our port.</summary>
    public string CaAddress => $"istiod.istio-system.svc:{EndPoint.Port}";

    public string TrustDomain => _options.TrustDomain;

    public string ClusterId => _options.ClusterId;

    public IReadOnlyList<RecordedCertificateRequest> Requests
    {
        get
        {
            lock (_requests)
            {
                return [.. _requests];
            }
        }
    }

    public static async Task<IstiodCaDouble> StartAsync(IstiodCaDoubleOptions? options = null, CancellationToken cancellationToken = default)
    {
        var ca = new IstiodCaDouble(options ?? new IstiodCaDoubleOptions());
        await ca.StartServerAsync(new IPEndPoint(IPAddress.Loopback, 0), cancellationToken).ConfigureAwait(false);
        return ca;
    }

    /// <summary>A projected-token look-alike for <paramref name="namespace"/>/<paramref name="serviceAccount"/> (audience istio-ca, 1h by default).</summary>
    public string CreateToken(string @namespace, string serviceAccount, TimeSpan? lifetime = null, IEnumerable<string>? audiences = null) =>
        DevTokens.CreateServiceAccountToken(@namespace, serviceAccount, _options.TimeProvider.GetUtcNow() + (lifetime ?? TimeSpan.FromHours(1)), audiences, podName: $"{serviceAccount}-pod");

    /// <summary>
    /// Points <paramref name="options"/> at this CA: address (dialled on loopback), trust domain, cluster id, and files
    /// in <paramref name="directory"/> for the root (<c>root-cert.pem</c>) and a fresh token (<c>istio-token</c>) for the options' identity.
    /// </summary>
    public void Configure(AgentOptions options, string directory)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.TrustDomain = TrustDomain;
        options.ClusterId = ClusterId;
        options.CaAddress = CaAddress;
        options.CaConnectAddress = EndPoint.ToString();
        options.RootCertPath = Path.Combine(directory, "root-cert.pem");
        options.TokenPath = Path.Combine(directory, "istio-token");
        File.WriteAllText(options.RootCertPath, Ca.RootCertificatePem);
        File.WriteAllText(options.TokenPath, CreateToken(options.Namespace, options.ServiceAccount) + "\n");
    }

    /// <summary>Stops serving (connections refused) until <see cref="RestartAsync"/>.</summary>
    public async Task StopAsync()
    {
        var server = Interlocked.Exchange(ref _server, null);
        if (server is not null)
        {
            await server.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Serves again on the same port (istiod back after a rollout).</summary>
    public Task RestartAsync(CancellationToken cancellationToken = default) => StartServerAsync(EndPoint, cancellationToken);

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        Ca.Dispose();
        if (_foreign.IsValueCreated)
        {
            _foreign.Value.Dispose();
        }
    }

    private async Task StartServerAsync(IPEndPoint endPoint, CancellationToken cancellationToken)
    {
        var server = await DevCaServer.StartAsync(_service, endPoint, SelectServerCertificate, _options.LoggerFactory, cancellationToken).ConfigureAwait(false);
        EndPoint = server.EndPoint;
        _server = server;
    }

    private X509Certificate2 SelectServerCertificate() => Faults.ServerCertificate switch
    {
        CaServerCertificateFault.WrongName => _wrongNameCertificate.Value,
        CaServerCertificateFault.ForeignRoot => _foreignServerCertificate.Value,
        _ => _serverCertificate,
    };

    private RecordedCertificateRequest Record(IstioCertificateRequest request, ServerCallContext context)
    {
        var recorded = new RecordedCertificateRequest
        {
            CsrPem = request.Csr,
            ValidityDurationSeconds = request.ValidityDuration,
            Headers = [.. context.RequestHeaders.Where(h => !h.IsBinary).Select(h => new KeyValuePair<string, string>(h.Key, h.Value))],
        };
        lock (_requests)
        {
            _requests.Add(recorded);
        }

        return recorded;
    }

    private sealed class FaultyCaService(IstiodCaDouble owner, IstiodAuthenticator authenticator) : DevCaService(owner.Ca, authenticator)
    {
        public override async Task<IstioCertificateResponse> CreateCertificate(IstioCertificateRequest request, ServerCallContext context)
        {
            var recorded = owner.Record(request, context);
            try
            {
                var faults = owner.Faults;
                if (faults.Delay > TimeSpan.Zero)
                {
                    await Task.Delay(faults.Delay, context.CancellationToken).ConfigureAwait(false);
                }

                if (faults.DropConnection)
                {
                    context.GetHttpContext().Abort();
                    throw new RpcException(new Status(StatusCode.Unavailable, "connection dropped"));
                }

                if (faults.TakeFailure() is { } failure)
                {
                    throw failure;
                }

                var identity = await Authenticator.AuthenticateAsync(context.RequestHeaders, context.CancellationToken).ConfigureAwait(false);
                recorded.Identity = identity;
                if (request.Metadata?.Fields.ContainsKey("ImpersonatedIdentity") == true)
                {
                    throw new RpcException(new Status(StatusCode.Unauthenticated, "request impersonation authentication failure"));
                }

                var chain = faults.Response == CaResponseFault.None
                    ? Authority.Sign(request.Csr, request.ValidityDuration, identity)
                    : Misbehave(faults.Response, request, identity);
                return new IstioCertificateResponse { CertChain = { chain } };
            }
            catch (RpcException ex)
            {
                recorded.Outcome = ex.StatusCode;
                throw;
            }
        }

        private IReadOnlyList<string> Misbehave(CaResponseFault fault, IstioCertificateRequest request, string identity)
        {
            var ttl = DevCertificateAuthority.ResolveTtl(request.ValidityDuration);
            var publicKey = CertificateRequest.LoadSigningRequestPem(request.Csr, HashAlgorithmName.SHA256).PublicKey;
            var now = owner._options.TimeProvider.GetUtcNow();
            switch (fault)
            {
                case CaResponseFault.WrongSan:
                    return Authority.Sign(request.Csr, request.ValidityDuration, identity[..identity.LastIndexOf('/')] + "/someone-else");
                case CaResponseFault.WrongKey:
                    using (var other = ECDsa.Create(ECCurve.NamedCurves.nistP256))
                    {
                        var otherKey = new CertificateRequest(new X500DistinguishedName(string.Empty), other, HashAlgorithmName.SHA256).PublicKey;
                        return Authority.Chain(Authority.Issue(otherKey, identity, ttl));
                    }

                case CaResponseFault.ExpiredLeaf:
                    return Authority.Chain(Authority.Issue(publicKey, identity, TimeSpan.FromHours(-1), notBefore: now - TimeSpan.FromHours(2)));
                case CaResponseFault.ForeignRoot:
                    return [owner.ForeignCa.Issue(publicKey, identity, ttl).ExportCertificatePem() + "\n", Authority.RootBundlePem];
                case CaResponseFault.SingleElementChain:
                    return [Authority.Sign(request.Csr, request.ValidityDuration, identity)[0]];
                case CaResponseFault.MultiRootBundle:
                    var chain = Authority.Sign(request.Csr, request.ValidityDuration, identity).ToList();
                    chain[^1] += owner.ForeignCa.RootCertificatePem;
                    return chain;
                case CaResponseFault.RootFirst:
                    return [Authority.RootCertificatePem, Authority.RootBundlePem];
                default:
                    throw new ArgumentOutOfRangeException(nameof(fault), fault, null);
            }
        }
    }
}
