using System.Net;
using System.Net.Sockets;
using ARSoft.Tools.Net;
using ARSoft.Tools.Net.Dns;
using Microsoft.Extensions.Logging;

namespace Waypoint.Box.Dns;

/// <summary>
/// The box's cluster DNS (the role CoreDNS plays in kind): answers A, AAAA and CNAME for Service names from the
/// current <see cref="ClusterDnsRecords"/> over UDP and TCP, authoritatively for the cluster domain. The box has no
/// way out, so any other name is refused rather than forwarded.
/// </summary>
public sealed class ClusterDnsServer : IAsyncDisposable
{
    private const int Ttl = 5;

    private readonly DnsServer _server;
    private readonly ILogger _logger;
    private volatile ClusterDnsRecords _records = ClusterDnsRecords.Empty;

    public ClusterDnsServer(IPEndPoint endPoint, ILogger<ClusterDnsServer> logger)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        ArgumentNullException.ThrowIfNull(logger);
        _logger = logger;
        EndPoint = endPoint;
        _server = new DnsServer(new UdpServerTransport(endPoint), new TcpServerTransport(endPoint));
        _server.QueryReceived += OnQueryReceivedAsync;
        _server.ExceptionThrown += (_, e) =>
        {
            ClusterDnsLog.Failed(_logger, e.Exception);
            return Task.CompletedTask;
        };
    }

    public IPEndPoint EndPoint { get; }

    public ClusterDnsRecords Records
    {
        get => _records;
        set => _records = value ?? throw new ArgumentNullException(nameof(value));
    }

    public void Start() => _server.Start();

    public ValueTask DisposeAsync()
    {
        _server.Stop();
        return ValueTask.CompletedTask;
    }

    /// <summary>The answer to one query against <paramref name="records"/> (pure: the server's whole logic).</summary>
    public static DnsMessage Answer(DnsMessage query, ClusterDnsRecords records)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(records);
        var response = query.CreateResponseInstance();
        if (query.Questions.Count != 1)
        {
            response.ReturnCode = ReturnCode.FormatError;
            return response;
        }

        var question = query.Questions[0];
        var name = question.Name.ToString();
        if (!records.IsInZone(name))
        {
            response.ReturnCode = ReturnCode.Refused;
            return response;
        }

        response.IsAuthoritiveAnswer = true;
        if (records.AliasOf(name) is { } target)
        {
            response.AnswerRecords.Add(new CNameRecord(question.Name, Ttl, DomainName.Parse(target)));
            return response;
        }

        if (records.AddressesOf(name) is not { } addresses)
        {
            response.ReturnCode = ReturnCode.NxDomain;
            return response;
        }

        foreach (var address in addresses)
        {
            switch (question.RecordType)
            {
                case RecordType.A or RecordType.Any when address.AddressFamily == AddressFamily.InterNetwork:
                    response.AnswerRecords.Add(new ARecord(question.Name, Ttl, address));
                    break;
                case RecordType.Aaaa or RecordType.Any when address.AddressFamily == AddressFamily.InterNetworkV6:
                    response.AnswerRecords.Add(new AaaaRecord(question.Name, Ttl, address));
                    break;
            }
        }

        // A name that exists without records of the asked type is NOERROR with no answers (NODATA), not NXDOMAIN.
        return response;
    }

    private Task OnQueryReceivedAsync(object sender, QueryReceivedEventArgs e)
    {
        if (e.Query is DnsMessage query)
        {
            e.Response = Answer(query, _records);
        }

        return Task.CompletedTask;
    }
}

internal static partial class ClusterDnsLog
{
    [LoggerMessage(Level = LogLevel.Warning, EventId = 1, EventName = "ClusterDnsFailed", Message = "The cluster DNS server failed to answer a query.")]
    public static partial void Failed(ILogger logger, Exception exception);
}
