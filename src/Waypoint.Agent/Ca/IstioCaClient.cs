using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Grpc.Net.Client;
using Istio.V1.Auth;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Waypoint.Agent.Certificates;

namespace Waypoint.Agent.Ca;

/// <summary>
/// Calls <c>istio.v1.auth.IstioCertificateService/CreateCertificate</c> on istiod over TLS verified against the
/// mesh root file, with the pod's projected token (re-read per call) and <c>clusterid</c>. After any failed call
/// the channel is dropped, so the next one re-reads the root file (istiod's root may have rotated).
/// </summary>
public sealed class IstioCaClient : ICertificateAuthorityClient, IDisposable
{
    private readonly AgentOptions _options;
    private readonly ILogger<IstioCaClient> _logger;
    private readonly Action<SocketsHttpHandler>? _configureHandler;
    private readonly Lock _lock = new();
    private GrpcChannel? _channel;

    /// <param name="configureHandler">
    /// Adjusts the connection handler last (as KubernetesClient's <c>FirstMessageHandlerSetup</c>), e.g. to connect
    /// from another network namespace; TLS verification against the mesh root stays as set here.
    /// </param>
    public IstioCaClient(IOptions<AgentOptions> options, ILogger<IstioCaClient> logger, Action<SocketsHttpHandler>? configureHandler = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(logger);
        _options = options.Value;
        _logger = logger;
        _configureHandler = configureHandler;
    }

    public async Task<IReadOnlyList<string>> CreateCertificateAsync(string csrPem, TimeSpan ttl, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(csrPem);
        var token = ReadToken(_options.TokenPath);
        var channel = GetOrCreateChannel();

        var headers = new Metadata
        {
            { "authorization", "Bearer " + token },
            { "clusterid", _options.ClusterId },
        };
        foreach (var (name, value) in _options.CaHeaders)
        {
            headers.Add(name, value);
        }

        var request = new IstioCertificateRequest { Csr = csrPem, ValidityDuration = (long)ttl.TotalSeconds };
        try
        {
            var client = new IstioCertificateService.IstioCertificateServiceClient(channel);
            var response = await client.CreateCertificateAsync(
                request,
                new CallOptions(headers, deadline: DateTime.UtcNow + _options.CaRequestTimeout, cancellationToken: cancellationToken)).ConfigureAwait(false);
            return response.CertChain;
        }
        catch (RpcException ex) when (!cancellationToken.IsCancellationRequested && FindAuthenticationFailure(ex) is { } tls)
        {
            // grpc-dotnet reports a failed handshake as Internal; it is a transport failure (wrong root, wrong name).
            DropChannel(channel);
            throw new WorkloadCertificateException(
                CertificateFailureKind.CaError,
                $"The TLS handshake with istiod at {_options.CaAddress} failed (is '{_options.RootCertPath}' the mesh root, and does istiod's certificate name the CA host?): {tls.Message}",
                StatusCode.Unavailable,
                ex);
        }
        catch (RpcException ex) when (!cancellationToken.IsCancellationRequested)
        {
            DropChannel(channel);
            throw new WorkloadCertificateException(
                CertificateFailureKind.CaError,
                $"istiod at {_options.CaAddress} answered CreateCertificate with {ex.StatusCode}: {Describe(ex)}",
                ex.StatusCode,
                ex);
        }
        catch (Exception ex) when (ex is not OperationCanceledException && ex is not WorkloadCertificateException)
        {
            DropChannel(channel);
            throw;
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _channel?.Dispose();
            _channel = null;
        }
    }

    /// <summary>The projected token, trimmed. Missing or empty fails locally rather than sending an anonymous request.</summary>
    internal static string ReadToken(string path)
    {
        string token;
        try
        {
            token = File.ReadAllText(path).Trim();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new WorkloadCertificateException(CertificateFailureKind.LocalConfiguration, $"Cannot read the istio-ca token at '{path}': {ex.Message}", innerException: ex);
        }

        return token.Length > 0
            ? token
            : throw new WorkloadCertificateException(CertificateFailureKind.LocalConfiguration, $"The istio-ca token file '{path}' is empty.");
    }

    /// <summary>The mesh roots from a PEM file (several during a root rotation).</summary>
    internal static X509Certificate2Collection ReadRoots(string path)
    {
        var roots = new X509Certificate2Collection();
        try
        {
            roots.ImportFromPemFile(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException)
        {
            throw new WorkloadCertificateException(CertificateFailureKind.LocalConfiguration, $"Cannot read the mesh root certificate(s) at '{path}': {ex.Message}", innerException: ex);
        }

        return roots.Count > 0
            ? roots
            : throw new WorkloadCertificateException(CertificateFailureKind.LocalConfiguration, $"'{path}' holds no PEM certificate.");
    }

    private GrpcChannel GetOrCreateChannel()
    {
        lock (_lock)
        {
            if (_channel is not null)
            {
                return _channel;
            }

            if (!AgentOptions.TryParseHostPort(_options.CaAddress, out var host, out var port))
            {
                throw new WorkloadCertificateException(CertificateFailureKind.LocalConfiguration, $"CaAddress '{_options.CaAddress}' is not host:port.");
            }

            var roots = ReadRoots(_options.RootCertPath);
            var connectTo = _options.CaConnectAddress is null ? null : IPEndPoint.Parse(_options.CaConnectAddress);
            var handler = new SocketsHttpHandler
            {
                EnableMultipleHttp2Connections = false,
                PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
                ConnectTimeout = TimeSpan.FromSeconds(10),
                SslOptions = new SslClientAuthenticationOptions
                {
                    // Trust only the mesh root, never the OS store; the token must not reach anyone else.
                    CertificateChainPolicy = TrustOnly(roots),
                    EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                },
            };
            if (connectTo is not null)
            {
                handler.ConnectCallback = async (_, ct) =>
                {
                    var socket = new Socket(connectTo.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                    try
                    {
                        await socket.ConnectAsync(connectTo, ct).ConfigureAwait(false);
                        return new NetworkStream(socket, ownsSocket: true);
                    }
                    catch
                    {
                        socket.Dispose();
                        throw;
                    }
                };
            }

            _configureHandler?.Invoke(handler);
            var address = new UriBuilder(Uri.UriSchemeHttps, host, port).Uri;
            _channel = GrpcChannel.ForAddress(address, new GrpcChannelOptions { HttpHandler = handler, DisposeHttpClient = true });
            AgentLog.CaChannelCreated(_logger, address, roots.Count);
            return _channel;
        }
    }

    private static X509ChainPolicy TrustOnly(X509Certificate2Collection roots)
    {
        var policy = new X509ChainPolicy
        {
            TrustMode = X509ChainTrustMode.CustomRootTrust,
            RevocationMode = X509RevocationMode.NoCheck,
            DisableCertificateDownloads = true,
        };
        policy.CustomTrustStore.AddRange(roots);
        return policy;
    }

    private void DropChannel(GrpcChannel channel)
    {
        lock (_lock)
        {
            if (ReferenceEquals(_channel, channel))
            {
                _channel = null;
            }
        }

        channel.Dispose();
    }

    private static AuthenticationException? FindAuthenticationFailure(RpcException ex)
    {
        for (var inner = ex.Status.DebugException ?? ex.InnerException; inner is not null; inner = inner.InnerException)
        {
            if (inner is AuthenticationException authentication)
            {
                return authentication;
            }
        }

        return null;
    }

    private static string Describe(RpcException ex)
    {
        // Transport failures (TLS, refused) come back as Unavailable with the real cause inside.
        var inner = ex.Status.DebugException;
        while (inner?.InnerException is not null && inner is not AuthenticationException)
        {
            inner = inner.InnerException;
        }

        return inner is null || inner.Message == ex.Status.Detail ? ex.Status.Detail : $"{ex.Status.Detail} ({inner.Message})";
    }
}
