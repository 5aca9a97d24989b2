using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Waypoint.Box.Network;

namespace Waypoint.Ztunnel.Tests.Box;

/// <summary>What one HBONE CONNECT gave: the response status (200, 404, or -1 when not a static-table status) and the tunnelled bytes.</summary>
internal sealed record HboneReply(int Status, string Body);

/// <summary>
/// A bare HBONE peer for tests: TLS 1.3 with ALPN h2 (and an optional client certificate) to <c>ip:15008</c> inside the
/// box, one HTTP/2 CONNECT for an authority, a plain HTTP/1.1 request through the tunnel, the bytes that come back.
/// Hand-written frames because HttpClient cannot send a classic (non-extended) HTTP/2 CONNECT.
/// </summary>
internal static class HboneTestClient
{
    private const byte Data = 0x0, Headers = 0x1, RstStream = 0x3, Settings = 0x4, Ping = 0x6, GoAway = 0x7;
    private const byte EndStream = 0x1, EndHeaders = 0x4, Ack = 0x1;

    public static async Task<HboneReply> GetThroughTunnelAsync(BoxNetworkNamespace network, IPEndPoint hbone, string authority, X509Certificate2? clientCertificate, X509Certificate2Collection roots, CancellationToken cancellationToken)
    {
        var socket = await network.ConnectAsync(hbone, cancellationToken);
        await using var tls = new SslStream(new NetworkStream(socket, ownsSocket: true));
        var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
        policy.CustomTrustStore.AddRange(roots);
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = string.Empty,
            EnabledSslProtocols = SslProtocols.Tls13,
            ApplicationProtocols = [SslApplicationProtocol.Http2],
            ClientCertificates = clientCertificate is null ? null : [clientCertificate],
            CertificateChainPolicy = policy,
            // Workload certificates carry only a URI SAN: the chain is what is checked here.
            RemoteCertificateValidationCallback = (_, _, _, errors) => (errors & ~SslPolicyErrors.RemoteCertificateNameMismatch) == SslPolicyErrors.None,
        }, cancellationToken);

        await tls.WriteAsync("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8.ToArray(), cancellationToken);
        await WriteFrameAsync(tls, Settings, 0, 0, [], cancellationToken);
        var block = new List<byte>();
        AddHeader(block, 2, "CONNECT");   // :method, static index 2, literal value without indexing
        AddHeader(block, 1, authority);   // :authority, static index 1
        await WriteFrameAsync(tls, Headers, EndHeaders, 1, [.. block], cancellationToken);
        await WriteFrameAsync(tls, Data, 0, 1, Encoding.ASCII.GetBytes($"GET /hbone HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"), cancellationToken);

        var status = 0;
        var body = new StringBuilder();
        var header = new byte[9];
        while (true)
        {
            await tls.ReadExactlyAsync(header, cancellationToken);
            var length = (header[0] << 16) | (header[1] << 8) | header[2];
            var (type, flags, stream) = (header[3], header[4], BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(5)) & int.MaxValue);
            var payload = new byte[length];
            await tls.ReadExactlyAsync(payload, cancellationToken);
            switch (type)
            {
                case Settings when (flags & Ack) == 0:
                    await WriteFrameAsync(tls, Settings, Ack, 0, [], cancellationToken);
                    break;
                case Ping when (flags & Ack) == 0:
                    await WriteFrameAsync(tls, Ping, Ack, 0, payload, cancellationToken);
                    break;
                case Headers when stream == 1 && status == 0:
                    status = payload.Length > 0 ? payload[0] switch { 0x88 => 200, 0x8d => 404, _ => -1 } : -1;
                    if ((flags & EndStream) != 0)
                    {
                        return new HboneReply(status, body.ToString());
                    }

                    break;
                case Data when stream == 1:
                    body.Append(Encoding.UTF8.GetString(payload));
                    if ((flags & EndStream) != 0)
                    {
                        return new HboneReply(status, body.ToString());
                    }

                    break;
                case RstStream when stream == 1:
                case GoAway:
                    return new HboneReply(status, body.ToString());
            }
        }
    }

    private static void AddHeader(List<byte> block, byte staticIndex, string value)
    {
        var bytes = Encoding.ASCII.GetBytes(value);
        if (bytes.Length > 126)
        {
            throw new ArgumentException("header value too long for this client", nameof(value));
        }

        block.Add(staticIndex);
        block.Add((byte)bytes.Length);
        block.AddRange(bytes);
    }

    private static async Task WriteFrameAsync(Stream stream, byte type, byte flags, int streamId, byte[] payload, CancellationToken cancellationToken)
    {
        var frame = new byte[9 + payload.Length];
        frame[0] = (byte)(payload.Length >> 16);
        frame[1] = (byte)(payload.Length >> 8);
        frame[2] = (byte)payload.Length;
        frame[3] = type;
        frame[4] = flags;
        BinaryPrimitives.WriteInt32BigEndian(frame.AsSpan(5), streamId);
        payload.CopyTo(frame, 9);
        await stream.WriteAsync(frame, cancellationToken);
        await stream.FlushAsync(cancellationToken);
    }
}
