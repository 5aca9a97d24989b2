using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Waypoint.Agent.DevCa;

namespace Waypoint.EndToEnd.Tests.Local;

/// <summary>The waypoint's 15008 accepts only clients with a certificate from the mesh root.</summary>
[Collection(BasicsRigGroup.Name)]
public sealed class MeshSecurityTests(BasicsFixture fixture)
{
    private static readonly byte[] s_http2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8.ToArray();

    [Fact]
    public async Task ClientWithForeignRoot_IsRefusedOn15008_MeshClientIsServed()
    {
        var waypoint = Assert.Single(fixture.Rig.Topology.Waypoints);
        using var foreignCa = DevCertificateAuthority.Create("cluster.local");
        using var foreign = foreignCa.IssueWorkloadCertificate("spiffe://cluster.local/ns/default/sa/local-client");
        using var mesh = fixture.Rig.Certificates.IssueInMemory("spiffe://cluster.local/ns/default/sa/local-client");

        var root = fixture.Rig.ControlPlane.Authority.Root;
        Assert.True(await SpeaksHttp2Async(waypoint.Address, mesh, root), "a mesh client gets the waypoint's HTTP/2 SETTINGS");
        Assert.False(await SpeaksHttp2Async(waypoint.Address, foreign, root), "a client certificate from another root must be refused");
        Assert.False(await SpeaksHttp2Async(waypoint.Address, null, root), "a client without a certificate must be refused");
    }

    /// <summary>TLS 1.3 + ALPN h2 + no SNI, like ztunnel; true when the server answers the HTTP/2 preface with SETTINGS.</summary>
    private static async Task<bool> SpeaksHttp2Async(System.Net.IPAddress address, X509Certificate2? clientCertificate, X509Certificate2 meshRoot)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(address, 15008, cts.Token);
        await using var tls = new SslStream(tcp.GetStream(), leaveInnerStreamOpen: false, (_, certificate, _, _) => ChainsTo(certificate, meshRoot));
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
