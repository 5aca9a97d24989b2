using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Waypoint.Agent;
using Waypoint.Agent.Ca;
using Waypoint.Agent.DevCa;
using Waypoint.Box.Network;
using Waypoint.Local.Box;
using Waypoint.Ztunnel.Identity;

namespace Waypoint.EndToEnd.Tests.Mesh;

/// <summary>
/// The waypoint pod's 15008 (namespace <c>demo</c>) accepts only clients with a certificate from the mesh root:
/// dialled from the box's network namespace, with a certificate istiod's CA issued to the client pod's
/// ServiceAccount, one from a foreign root, and none.
/// </summary>
[Collection(MeshBoxGroup.Name)]
public sealed class MeshSecurityTests(MeshBoxFixture mesh)
{
    private static readonly byte[] s_http2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8.ToArray();

    [Fact]
    public async Task ClientWithForeignRoot_IsRefusedOn15008_MeshClientIsServed()
    {
        var waypoint = Assert.Single(mesh.Pods(BasicsMesh.Ns), p => p.Name.StartsWith("waypoint-", StringComparison.Ordinal));
        var address = IPAddress.Parse(waypoint.Address);
        var network = mesh.Connection.Network;
        using var root = X509Certificate2.CreateFromPem(await MeshRootAsync());
        using var foreignCa = DevCertificateAuthority.Create("cluster.local");
        using var foreign = foreignCa.IssueWorkloadCertificate(MeshBoxFixture.ClientIdentity);
        using var meshClient = await IssueFromIstiodAsync(root);

        Assert.True(await SpeaksHttp2Async(network, address, meshClient, root), "a mesh client gets the waypoint's HTTP/2 SETTINGS");
        Assert.False(await SpeaksHttp2Async(network, address, foreign, root), "a client certificate from another root must be refused");
        Assert.False(await SpeaksHttp2Async(network, address, null, root), "a client without a certificate must be refused");
    }

    private async Task<string> MeshRootAsync()
    {
        var map = await mesh.GetAsync("v1", BasicsMesh.Ns, "configmaps", "istio-ca-root-cert");
        return map["data"]!["root-cert.pem"]!.GetValue<string>();
    }

    /// <summary>A certificate for the client pod's ServiceAccount from istiod's CA (a CSR with a ServiceAccount token, as a workload agent sends).</summary>
    private async Task<X509Certificate2> IssueFromIstiodAsync(X509Certificate2 root)
    {
        var directory = Directory.CreateTempSubdirectory("waypoint-e2e-ca-").FullName;
        try
        {
            using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(1));
            var rootPath = Path.Combine(directory, "root-cert.pem");
            await File.WriteAllTextAsync(rootPath, root.ExportCertificatePem(), cancel.Token);
            var tokenPath = Path.Combine(directory, "token");
            await File.WriteAllTextAsync(tokenPath, await new KubernetesTokens(mesh.Admin).RequestTokenAsync(LocalClientPod.Namespace, "client", TimeSpan.FromMinutes(10), cancel.Token), cancel.Token);
            var options = new AgentOptions { CaAddress = "istiod.istio-system.svc:15012", RootCertPath = rootPath, TokenPath = tokenPath, Namespace = LocalClientPod.Namespace, ServiceAccount = "client" };
            using var ca = new IstioCaClient(Options.Create(options), NullLogger<IstioCaClient>.Instance, handler =>
                handler.ConnectCallback = async (_, ct) => new NetworkStream(await mesh.Connection.Network.ConnectAsync(new IPEndPoint(IPAddress.Loopback, 15012), ct), ownsSocket: true));

            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest(new X500DistinguishedName(string.Empty), key, HashAlgorithmName.SHA256);
            var san = new SubjectAlternativeNameBuilder();
            san.AddUri(new Uri(MeshBoxFixture.ClientIdentity));
            request.CertificateExtensions.Add(san.Build(critical: true));
            var chain = await ca.CreateCertificateAsync(request.CreateSigningRequestPem(), TimeSpan.FromHours(1), cancel.Token);
            using var leaf = X509Certificate2.CreateFromPem(chain[0]).CopyWithPrivateKey(key);
            return X509CertificateLoader.LoadPkcs12(leaf.Export(X509ContentType.Pkcs12), null);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>TLS 1.3 + ALPN h2 + no SNI, like ztunnel; true when the server answers the HTTP/2 preface with SETTINGS.</summary>
    private static async Task<bool> SpeaksHttp2Async(BoxNetworkNamespace network, IPAddress address, X509Certificate2? clientCertificate, X509Certificate2 meshRoot)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var socket = await network.ConnectAsync(new IPEndPoint(address, 15008), cts.Token);
        await using var tls = new SslStream(new NetworkStream(socket, ownsSocket: true), leaveInnerStreamOpen: false, (_, certificate, _, _) => ChainsTo(certificate, meshRoot));
        try
        {
            await tls.AuthenticateAsClientAsync(
                new SslClientAuthenticationOptions
                {
                    TargetHost = string.Empty,
                    EnabledSslProtocols = SslProtocols.Tls13,
                    ApplicationProtocols = [SslApplicationProtocol.Http2],
                    ClientCertificates = clientCertificate is null ? null : [clientCertificate],
                    LocalCertificateSelectionCallback = (_, _, _, _, _) => clientCertificate!,
                },
                cts.Token);
            await tls.WriteAsync(s_http2Preface, cts.Token);
            await tls.WriteAsync(new byte[] { 0, 0, 0, 4, 0, 0, 0, 0, 0 }, cts.Token); // empty SETTINGS
            await tls.FlushAsync(cts.Token);
            var header = new byte[9];
            var read = await tls.ReadAtLeastAsync(header, 9, throwOnEndOfStream: false, cts.Token);
            return read == 9 && header[3] == 4; // frame type SETTINGS
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException)
        {
            return false;
        }
    }

    /// <summary>The waypoint must present a certificate from the mesh root (it has no DNS name to check: ztunnel checks its SPIFFE ID).</summary>
    private static bool ChainsTo(X509Certificate? certificate, X509Certificate2 root)
    {
        if (certificate is not X509Certificate2 leaf)
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.CustomTrustStore.Add(root);
        return chain.Build(leaf);
    }
}
