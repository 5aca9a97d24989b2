using System.Buffers.Binary;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Waypoint.Box.Network;

namespace Waypoint.Controller.Tests.OnTheBox;

/// <summary>
/// The client ztunnel's side of HBONE, just enough for a test: mutual TLS (ALPN h2, the workload certificate) to a
/// waypoint's 15008, an HTTP/2 CONNECT stream whose <c>:authority</c> is the destination Service VIP:port, and an
/// HTTP/1.1 request and response carried in that stream's DATA frames. HttpClient sends no plain HTTP/2 CONNECT, so
/// the framing (RFC 9113) and the few HPACK literals (RFC 7541, no Huffman, no dynamic table) are written here.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
internal static class HboneClient
{
    private const byte Data = 0x0, Headers = 0x1, RstStream = 0x3, Settings = 0x4, Ping = 0x6, GoAway = 0x7;
    private const byte EndStream = 0x1, EndHeaders = 0x4, Ack = 0x1;
    private static readonly byte[] Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8.ToArray();

    /// <summary>One HTTP/1.1 GET through the tunnel; returns the raw HTTP/1.1 response (status line, headers, body).</summary>
    public static async Task<string> GetAsync(BoxNetworkNamespace network, IPEndPoint waypoint, string authority, X509Certificate2 clientCertificate, X509Certificate2 root, string host, CancellationToken cancellationToken)
    {
        var socket = await network.ConnectAsync(waypoint, cancellationToken);
        await using var tls = new SslStream(new NetworkStream(socket, ownsSocket: true), leaveInnerStreamOpen: false);
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "waypoint",
            ApplicationProtocols = [SslApplicationProtocol.Http2],
            ClientCertificates = [clientCertificate],
            EnabledSslProtocols = System.Security.Authentication.SslProtocols.Tls13,
            RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate is not null && ChainsTo(X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()), root),
        }, cancellationToken);

        await tls.WriteAsync(Preface, cancellationToken);
        await WriteFrameAsync(tls, Settings, 0, 0, [], cancellationToken);
        await WriteFrameAsync(tls, Headers, EndHeaders, 1, ConnectHeaders(authority), cancellationToken);

        var request = Encoding.ASCII.GetBytes($"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        var response = new MemoryStream();
        var sent = false;
        while (true)
        {
            var (type, flags, stream, payload) = await ReadFrameAsync(tls, cancellationToken);
            switch (type)
            {
                case Settings when (flags & Ack) == 0:
                    await WriteFrameAsync(tls, Settings, Ack, 0, [], cancellationToken);
                    break;
                case Ping when (flags & Ack) == 0:
                    await WriteFrameAsync(tls, Ping, Ack, 0, payload, cancellationToken);
                    break;
                case Headers when stream == 1:
                    // The waypoint answers CONNECT with :status 200, HPACK static index 8 (0x88), before anything else.
                    if (!sent)
                    {
                        if (payload.Length == 0 || payload[0] != 0x88)
                        {
                            throw new HttpRequestException($"The waypoint refused the CONNECT to {authority} (response headers {Convert.ToHexString(payload)}).");
                        }

                        await WriteFrameAsync(tls, Data, 0, 1, request, cancellationToken);
                        sent = true;
                    }

                    if ((flags & EndStream) != 0)
                    {
                        return Encoding.ASCII.GetString(response.ToArray());
                    }

                    break;
                case Data when stream == 1:
                    response.Write(payload);
                    if ((flags & EndStream) != 0 || LooksComplete(response))
                    {
                        return Encoding.ASCII.GetString(response.ToArray());
                    }

                    break;
                // The request said Connection: close, so the echo app closes the connection after its response, and
                // Envoy ends the tunnel with a reset (CONNECT_ERROR): as for TCP, the data before it is the response.
                case RstStream when stream == 1 && response.Length > 0:
                    return Encoding.ASCII.GetString(response.ToArray());
                case RstStream when stream == 1:
                    throw new HttpRequestException($"The waypoint reset the tunnel to {authority} (error code {BinaryPrimitives.ReadUInt32BigEndian(payload)}) after {response.Length} bytes.");
                // A draining Envoy first sends GOAWAY with the highest stream id (a notice: streams already sent are
                // still served), later one with the last stream it processed; only a stream above that was refused.
                case GoAway when (BinaryPrimitives.ReadInt32BigEndian(payload) & 0x7fffffff) < 1:
                    throw new HttpRequestException($"The waypoint refused the tunnel to {authority} with GOAWAY (error code {BinaryPrimitives.ReadUInt32BigEndian(payload.AsSpan(4))}) before processing it.");
            }
        }
    }

    /// <summary>A complete HTTP/1.1 response with Content-Length (the echo app sends one).</summary>
    private static bool LooksComplete(MemoryStream response)
    {
        var text = Encoding.ASCII.GetString(response.ToArray());
        var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        if (end < 0)
        {
            return false;
        }

        if (text[..end].Contains("transfer-encoding: chunked", StringComparison.OrdinalIgnoreCase))
        {
            return text.EndsWith("\r\n0\r\n\r\n", StringComparison.Ordinal);
        }

        var length = text[..end].Split("\r\n").Select(l => l.Split(':', 2)).FirstOrDefault(p => p.Length == 2 && p[0].Trim().Equals("content-length", StringComparison.OrdinalIgnoreCase));
        return length is not null && text.Length - end - 4 >= int.Parse(length[1].Trim(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>:method CONNECT and :authority as literals without indexing, names from the static table (2, 1).</summary>
    private static byte[] ConnectHeaders(string authority)
    {
        var block = new MemoryStream();
        Literal(block, 2, "CONNECT");
        Literal(block, 1, authority);
        return block.ToArray();

        static void Literal(MemoryStream block, byte nameIndex, string value)
        {
            var bytes = Encoding.ASCII.GetBytes(value);
            block.WriteByte(nameIndex); // 0000xxxx: literal without indexing, indexed name (< 15)
            block.WriteByte(checked((byte)bytes.Length)); // H=0, length < 127
            block.Write(bytes);
        }
    }

    private static async Task WriteFrameAsync(Stream stream, byte type, byte flags, int streamId, byte[] payload, CancellationToken cancellationToken)
    {
        var header = new byte[9];
        header[0] = (byte)(payload.Length >> 16);
        header[1] = (byte)(payload.Length >> 8);
        header[2] = (byte)payload.Length;
        header[3] = type;
        header[4] = flags;
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(5), streamId);
        await stream.WriteAsync(header, cancellationToken);
        await stream.WriteAsync(payload, cancellationToken);
        await stream.FlushAsync(cancellationToken);
    }

    private static async Task<(byte Type, byte Flags, int Stream, byte[] Payload)> ReadFrameAsync(Stream stream, CancellationToken cancellationToken)
    {
        var header = new byte[9];
        await stream.ReadExactlyAsync(header, cancellationToken);
        var length = (header[0] << 16) | (header[1] << 8) | header[2];
        var payload = new byte[length];
        await stream.ReadExactlyAsync(payload, cancellationToken);
        return (header[3], header[4], BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(5)) & 0x7fffffff, payload);
    }

    private static bool ChainsTo(X509Certificate2 leaf, X509Certificate2 root)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(root);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(leaf);
    }
}
