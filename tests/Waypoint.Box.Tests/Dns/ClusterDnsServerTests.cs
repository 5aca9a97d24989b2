using System.Net;
using System.Net.Sockets;
using ARSoft.Tools.Net;
using ARSoft.Tools.Net.Dns;
using k8s.Models;
using Microsoft.Extensions.Logging.Abstractions;
using Waypoint.Box.Dns;

namespace Waypoint.Box.Tests.Dns;

public sealed class ClusterDnsServerTests
{
    private static readonly ClusterDnsRecords s_records = ClusterDnsRecords.Build(
        [
            Service("demo", "echo", "10.96.4.7"),
            Service("demo", "dual", "10.96.4.8", "fd00:10:96::8"),
            Service("demo", "db", "None"),
            new V1Service
            {
                Metadata = new V1ObjectMeta { Name = "ext", NamespaceProperty = "demo" },
                Spec = new V1ServiceSpec { Type = "ExternalName", ExternalName = "example.com." },
            },
        ],
        [
            new V1EndpointSlice
            {
                Metadata = new V1ObjectMeta { Name = "db-x", NamespaceProperty = "demo", Labels = new Dictionary<string, string> { ["kubernetes.io/service-name"] = "db" } },
                AddressType = "IPv4",
                Endpoints =
                [
                    new V1Endpoint { Addresses = ["10.244.1.5"], Conditions = new V1EndpointConditions { Ready = true } },
                    new V1Endpoint { Addresses = ["10.244.1.6"], Conditions = new V1EndpointConditions { Ready = false } },
                ],
            },
        ]);

    [Fact]
    public void ClusterIp_Service_Resolves_To_Its_Vip_Case_Insensitively()
    {
        var answer = Ask("Echo.Demo.svc.cluster.local", RecordType.A);
        Assert.Equal(ReturnCode.NoError, answer.ReturnCode);
        Assert.True(answer.IsAuthoritiveAnswer);
        Assert.Equal([IPAddress.Parse("10.96.4.7")], answer.AnswerRecords.OfType<ARecord>().Select(r => r.Address));
    }

    [Fact]
    public void Dual_Stack_Service_Answers_Each_Family_For_Its_Own_Type()
    {
        Assert.Equal([IPAddress.Parse("10.96.4.8")], Ask("dual.demo.svc.cluster.local", RecordType.A).AnswerRecords.OfType<ARecord>().Select(r => r.Address));
        Assert.Equal([IPAddress.Parse("fd00:10:96::8")], Ask("dual.demo.svc.cluster.local", RecordType.Aaaa).AnswerRecords.OfType<AaaaRecord>().Select(r => r.Address));
    }

    [Fact]
    public void Headless_Service_Resolves_To_Its_Ready_Endpoints_Only()
    {
        var answer = Ask("db.demo.svc.cluster.local", RecordType.A);
        Assert.Equal([IPAddress.Parse("10.244.1.5")], answer.AnswerRecords.OfType<ARecord>().Select(r => r.Address));
    }

    [Fact]
    public void ExternalName_Is_A_Cname()
    {
        var answer = Ask("ext.demo.svc.cluster.local", RecordType.A);
        Assert.Equal("example.com", Assert.IsType<CNameRecord>(Assert.Single(answer.AnswerRecords)).CanonicalName.ToString().TrimEnd('.'));
    }

    [Fact]
    public void Unknown_Cluster_Name_Is_NxDomain_And_Names_Outside_The_Zone_Are_Refused()
    {
        Assert.Equal(ReturnCode.NxDomain, Ask("nope.demo.svc.cluster.local", RecordType.A).ReturnCode);
        Assert.Equal(ReturnCode.Refused, Ask("example.com", RecordType.A).ReturnCode);
    }

    [Fact]
    public void Existing_Name_Without_Records_Of_The_Type_Is_NoData()
    {
        var answer = Ask("echo.demo.svc.cluster.local", RecordType.Aaaa);
        Assert.Equal(ReturnCode.NoError, answer.ReturnCode);
        Assert.Empty(answer.AnswerRecords);
    }

    [Fact]
    public async Task Serves_Queries_Over_Udp_And_Tcp_And_Follows_Record_Updates()
    {
        var endPoint = FreeLoopbackEndPoint();
        await using var server = new ClusterDnsServer(endPoint, NullLogger<ClusterDnsServer>.Instance) { Records = s_records };
        server.Start();

        var udp = new DnsClient([endPoint.Address], [new UdpClientTransport(endPoint.Port)], false, 5000);
        var viaUdp = await udp.ResolveAsync(DomainName.Parse("echo.demo.svc.cluster.local"), RecordType.A);
        Assert.Equal([IPAddress.Parse("10.96.4.7")], viaUdp!.AnswerRecords.OfType<ARecord>().Select(r => r.Address));

        server.Records = ClusterDnsRecords.Build([Service("demo", "echo", "10.96.9.9")], []);
        var tcp = new DnsClient([endPoint.Address], [new TcpClientTransport(endPoint.Port)], false, 5000);
        var viaTcp = await tcp.ResolveAsync(DomainName.Parse("echo.demo.svc.cluster.local"), RecordType.A);
        Assert.Equal([IPAddress.Parse("10.96.9.9")], viaTcp!.AnswerRecords.OfType<ARecord>().Select(r => r.Address));
    }

    private static DnsMessage Ask(string name, RecordType type)
    {
        var query = new DnsMessage { IsQuery = true };
        query.Questions.Add(new DnsQuestion(DomainName.Parse(name), type, RecordClass.INet));
        return ClusterDnsServer.Answer(query, s_records);
    }

    private static V1Service Service(string ns, string name, params string[] clusterIps) => new()
    {
        Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = ns },
        Spec = new V1ServiceSpec { ClusterIP = clusterIps[0], ClusterIPs = clusterIps },
    };

    /// <summary>A loopback address of its own (127.53.x.y) with a port free for both UDP and TCP.</summary>
    private static IPEndPoint FreeLoopbackEndPoint()
    {
        var address = new IPAddress([127, 53, (byte)Random.Shared.Next(1, 255), (byte)Random.Shared.Next(1, 255)]);
        using var tcp = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        tcp.Bind(new IPEndPoint(address, 0));
        return new IPEndPoint(address, ((IPEndPoint)tcp.LocalEndPoint!).Port);
    }
}
