using System.Net.Sockets;
using Envoy.Extensions.TransportSockets.Tls.V3;
using Envoy.Service.Discovery.V3;
using Envoy.Service.Secret.V3;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Waypoint.Agent.Ca;
using Waypoint.Agent.DevCa;
using Waypoint.Agent.Sds;
using Waypoint.TestKit.Pki;

namespace Waypoint.Agent.Tests.Sds;

/// <summary>The SDS protocol over the real Unix socket, driven by a gRPC client standing in for Envoy.</summary>
public sealed class SdsServerTests : IAsyncDisposable
{
    private static readonly TimeSpan s_wait = TimeSpan.FromSeconds(15);
    private readonly TestDirectory _directory = new();
    private readonly DevCertificateAuthority _ca = DevCertificateAuthority.Create();
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly AgentOptions _options;
    private readonly WorkloadCertificateManager _manager;
    private readonly SdsServer _server;
    private readonly GrpcChannel _channel;

    public SdsServerTests()
    {
        _options = new AgentOptions { Namespace = "apps", ServiceAccount = "waypoint", RootCertPath = _directory.File("root-cert.pem"), SocketPath = _directory.File("uds/socket") };
        File.WriteAllText(_options.RootCertPath, _ca.RootCertificatePem);
        var options = Microsoft.Extensions.Options.Options.Create(_options);
        var metrics = new AgentMetrics(_services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>());
        _manager = new WorkloadCertificateManager(options, new InProcessCa(_ca, _options.ExpectedIdentity), TimeProvider.System, metrics, NullLogger<WorkloadCertificateManager>.Instance);
        _server = new SdsServer(options, _manager, metrics, TimeProvider.System, NullLoggerFactory.Instance);
        _channel = GrpcChannel.ForAddress("http://localhost", new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler
            {
                ConnectCallback = async (_, ct) =>
                {
                    var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(_options.SocketPath), ct);
                    return new NetworkStream(socket, ownsSocket: true);
                },
            },
        });
    }

    public async ValueTask DisposeAsync()
    {
        _channel.Dispose();
        await _server.DisposeAsync();
        await _services.DisposeAsync();
        _ca.Dispose();
        _directory.Dispose();
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task Socket_And_Directory_Are_Owner_Only()
    {
        await _server.StartAsync(CancellationToken.None);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.GetDirectoryName(_options.SocketPath)!));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(_options.SocketPath));
    }

    [Fact]
    public async Task Initial_Request_Gets_Both_Secrets_Ack_Gets_Nothing_Rotation_Pushes_Only_Default()
    {
        await _server.StartAsync(CancellationToken.None);
        var first = await _manager.RenewAsync(CancellationToken.None);
        using var call = new SecretDiscoveryService.SecretDiscoveryServiceClient(_channel).StreamSecrets();

        await call.RequestStream.WriteAsync(Request(["default", "ROOTCA"]));
        var response = await ReadAsync(call);
        Assert.Equal(SdsSecrets.SecretTypeUrl, response.TypeUrl);
        var secrets = response.Resources.Select(r => r.Unpack<Secret>()).ToDictionary(s => s.Name);
        Assert.Equal(["ROOTCA", "default"], secrets.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(first.CertificateChainPem, secrets["default"].TlsCertificate.CertificateChain.InlineBytes.ToStringUtf8());
        Assert.Contains("PRIVATE KEY", secrets["default"].TlsCertificate.PrivateKey.InlineBytes.ToStringUtf8(), StringComparison.Ordinal);
        Assert.Equal(_ca.RootCertificatePem, secrets["ROOTCA"].ValidationContext.TrustedCa.InlineBytes.ToStringUtf8());

        // ACK: no answer. A rotation then pushes default alone (the roots did not change).
        await call.RequestStream.WriteAsync(Request(["default", "ROOTCA"], response));
        var next = ReadAsync(call);
        var rotated = await _manager.RenewAsync(CancellationToken.None);
        var push = await next;
        var pushed = Assert.Single(push.Resources).Unpack<Secret>();
        Assert.Equal("default", pushed.Name);
        Assert.Equal(rotated.CertificateChainPem, pushed.TlsCertificate.CertificateChain.InlineBytes.ToStringUtf8());
        Assert.NotEqual(response.Nonce, push.Nonce);
        Assert.NotEqual(response.VersionInfo, push.VersionInfo);
    }

    [Fact]
    public async Task Request_Before_The_First_Certificate_Is_Answered_When_It_Arrives()
    {
        await _server.StartAsync(CancellationToken.None);
        using var call = new SecretDiscoveryService.SecretDiscoveryServiceClient(_channel).StreamSecrets();
        await call.RequestStream.WriteAsync(Request(["default"]));
        var pending = ReadAsync(call);
        Assert.False(pending.IsCompleted);

        var certificate = await _manager.RenewAsync(CancellationToken.None);

        var secret = Assert.Single((await pending).Resources).Unpack<Secret>();
        Assert.Equal(certificate.CertificateChainPem, secret.TlsCertificate.CertificateChain.InlineBytes.ToStringUtf8());
    }

    [Fact]
    public async Task Nack_And_Stale_Nonces_Get_No_Answer_And_Ack_Adding_A_Name_Gets_Only_That_Name()
    {
        await _server.StartAsync(CancellationToken.None);
        await _manager.RenewAsync(CancellationToken.None);
        using var call = new SecretDiscoveryService.SecretDiscoveryServiceClient(_channel).StreamSecrets();
        await call.RequestStream.WriteAsync(Request(["default"]));
        var first = await ReadAsync(call);

        var nack = Request(["default"], first);
        nack.ErrorDetail = new Google.Rpc.Status { Code = 3, Message = "bad secret" };
        await call.RequestStream.WriteAsync(nack);
        var stale = Request(["default", "ROOTCA"]);
        stale.ResponseNonce = "not-a-nonce-we-sent";
        await call.RequestStream.WriteAsync(stale);

        // An ACK that adds ROOTCA is answered with ROOTCA alone; nothing was sent for the NACK or the stale request.
        await call.RequestStream.WriteAsync(Request(["default", "ROOTCA"], first));
        var added = await ReadAsync(call);
        Assert.Equal("ROOTCA", Assert.Single(added.Resources).Unpack<Secret>().Name);
    }

    [Fact]
    public async Task Reconnect_With_Empty_Nonce_Gets_Everything_Again()
    {
        await _server.StartAsync(CancellationToken.None);
        await _manager.RenewAsync(CancellationToken.None);
        using var call = new SecretDiscoveryService.SecretDiscoveryServiceClient(_channel).StreamSecrets();
        await call.RequestStream.WriteAsync(Request(["default"]));
        await ReadAsync(call);
        await call.RequestStream.WriteAsync(Request(["default"]));
        Assert.Equal("default", Assert.Single((await ReadAsync(call)).Resources).Unpack<Secret>().Name);
    }

    [Fact]
    public async Task Delta_And_Fetch_Are_Unimplemented()
    {
        await _server.StartAsync(CancellationToken.None);
        var client = new SecretDiscoveryService.SecretDiscoveryServiceClient(_channel);
        var fetch = await Assert.ThrowsAsync<RpcException>(async () => await client.FetchSecretsAsync(Request(["default"])));
        Assert.Equal(StatusCode.Unimplemented, fetch.StatusCode);
        using var delta = client.DeltaSecrets();
        var ex = await Assert.ThrowsAsync<RpcException>(() => delta.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(StatusCode.Unimplemented, ex.StatusCode);
    }

    private static DiscoveryRequest Request(string[] names, DiscoveryResponse? acking = null) => new()
    {
        TypeUrl = SdsSecrets.SecretTypeUrl,
        ResourceNames = { names },
        Node = new Envoy.Config.Core.V3.Node { Id = "sidecar~10.0.0.1~waypoint.apps~apps.svc.cluster.local" },
        VersionInfo = acking?.VersionInfo ?? string.Empty,
        ResponseNonce = acking?.Nonce ?? string.Empty,
    };

    private static async Task<DiscoveryResponse> ReadAsync(AsyncDuplexStreamingCall<DiscoveryRequest, DiscoveryResponse> call)
    {
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(s_wait));
        return call.ResponseStream.Current;
    }

    private sealed class InProcessCa(DevCertificateAuthority ca, string identity) : ICertificateAuthorityClient
    {
        public Task<IReadOnlyList<string>> CreateCertificateAsync(string csrPem, TimeSpan ttl, CancellationToken cancellationToken) =>
            Task.FromResult(ca.Sign(csrPem, (long)ttl.TotalSeconds, identity));
    }
}
