using System.Diagnostics;
using System.Globalization;
using Envoy.Config.Core.V3;
using Envoy.Data.Accesslog.V3;
using Envoy.Service.Accesslog.V3;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using OpenTelemetry.Metrics;
using Waypoint.Telemetry.RequestMetrics;

namespace Waypoint.Benchmarks;

/// <summary>
/// The agent's share of the request metrics, in process and without the noise of a data plane: batches of access log
/// entries shaped as Envoy sends them (32 per message, 8 client principals × 2 services × 2 codes), parsed from their
/// wire bytes and recorded into the Istio series with the Prometheus exporter listening, as in the agent. Reports CPU
/// µs per entry for parsing alone and for parsing + recording, and one scrape's render time.
/// Usage: <c>dotnet bench/Waypoint.Benchmarks/bin/Release/net10.0/Waypoint.Benchmarks.dll request-metrics-aggregation [seconds]</c>.
/// </summary>
internal static class RequestMetricsAggregation
{
    public static int Run(string[] args)
    {
        var seconds = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 5;
        var services = new ServiceCollection();
        services.AddWaypointRequestMetrics();
        services.AddWaypointPrometheus(IstioRequestMetrics.MeterName);
        using var provider = services.BuildServiceProvider();
        _ = provider.GetRequiredService<MeterProvider>(); // starts listening, as the agent's host does
        var receiver = new AccessLogReceiver(provider.GetRequiredService<IstioRequestMetrics>(), NullLogger<AccessLogReceiver>.Instance);
        var wire = Batch(32).ToByteArray();
        Console.WriteLine($"{Environment.ProcessorCount} cores; one message of 32 HTTP entries is {wire.Length} bytes; {seconds}s per measurement, after a warm-up.");

        Measure(TimeSpan.FromSeconds(1), wire, null);
        var parse = Measure(TimeSpan.FromSeconds(seconds), wire, null);
        Measure(TimeSpan.FromSeconds(1), wire, receiver);
        var record = Measure(TimeSpan.FromSeconds(seconds), wire, receiver);
        Console.WriteLine("| work per entry | CPU µs/entry | entries/s (one thread) |");
        Console.WriteLine("|---|---:|---:|");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| parse only | {parse.CpuUs:F2} | {parse.Rate:F0} |"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| parse + record | {record.CpuUs:F2} | {record.Rate:F0} |"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| record alone (difference) | {record.CpuUs - parse.CpuUs:F2} | |"));
        return 0;
    }

    private static (double CpuUs, double Rate) Measure(TimeSpan duration, byte[] wire, AccessLogReceiver? receiver)
    {
        var process = Process.GetCurrentProcess();
        var cpuBefore = process.TotalProcessorTime;
        var stopwatch = Stopwatch.StartNew();
        long entries = 0;
        while (stopwatch.Elapsed < duration)
        {
            for (var i = 0; i < 100; i++)
            {
                var message = StreamAccessLogsMessage.Parser.ParseFrom(wire);
                receiver?.Record(message);
                entries += message.HttpLogs.LogEntry.Count;
            }
        }

        process.Refresh();
        var cpu = process.TotalProcessorTime - cpuBefore;
        return (cpu.TotalMicroseconds / entries, entries / stopwatch.Elapsed.TotalSeconds);
    }

    /// <summary>What Envoy's http_grpc logger fills for a request through a waypoint chain.</summary>
    private static StreamAccessLogsMessage Batch(int count)
    {
        var logs = new StreamAccessLogsMessage.Types.HTTPAccessLogEntries();
        for (var i = 0; i < count; i++)
        {
            var service = i % 2 == 0 ? "echo" : "api";
            var common = new AccessLogCommon
            {
                SampleRate = 1,
                DownstreamRemoteAddress = new Address { SocketAddress = new SocketAddress { Address = "10.244.0.7", PortValue = (uint)(40000 + i) } },
                DownstreamLocalAddress = new Address { SocketAddress = new SocketAddress { Address = "10.96.0.10", PortValue = 80 } },
                UpstreamRemoteAddress = new Address { SocketAddress = new SocketAddress { Address = "10.244.0.9", PortValue = 8080 } },
                UpstreamLocalAddress = new Address { SocketAddress = new SocketAddress { Address = "10.244.0.5", PortValue = (uint)(50000 + i) } },
                UpstreamCluster = $"inbound-vip|80|http|{service}.app.svc.cluster.local",
                StartTime = Timestamp.FromDateTime(DateTime.UtcNow),
                TimeToLastRxByte = Duration.FromTimeSpan(TimeSpan.FromMicroseconds(20)),
                TimeToFirstUpstreamTxByte = Duration.FromTimeSpan(TimeSpan.FromMicroseconds(80)),
                TimeToLastUpstreamTxByte = Duration.FromTimeSpan(TimeSpan.FromMicroseconds(85)),
                TimeToFirstUpstreamRxByte = Duration.FromTimeSpan(TimeSpan.FromMicroseconds(600)),
                TimeToLastUpstreamRxByte = Duration.FromTimeSpan(TimeSpan.FromMicroseconds(650)),
                TimeToFirstDownstreamTxByte = Duration.FromTimeSpan(TimeSpan.FromMicroseconds(620)),
                TimeToLastDownstreamTxByte = Duration.FromTimeSpan(TimeSpan.FromMicroseconds(700)),
                Duration = Duration.FromTimeSpan(TimeSpan.FromMicroseconds(700 + (i * 37))),
                ResponseFlags = new ResponseFlags(),
                RouteName = "default",
                DownstreamDirectRemoteAddress = new Address { SocketAddress = new SocketAddress { Address = "10.244.0.7", PortValue = (uint)(40000 + i) } },
                AccessLogType = AccessLogType.NotSet,
                StreamId = Guid.NewGuid().ToString(),
            };
            common.FilterStateObjects.Add(RequestMetricsEnvoyConfig.PeerPrincipalFilterState, Any.Pack(new StringValue { Value = $"spiffe://cluster.local/ns/app/sa/client-{i % 8}" }));
            common.CustomTags.Add(RequestMetricsEnvoyConfig.DestinationServiceTag, $"{service}.app.svc.cluster.local");
            common.CustomTags.Add(RequestMetricsEnvoyConfig.DestinationServiceNameTag, service);
            common.CustomTags.Add(RequestMetricsEnvoyConfig.DestinationServiceNamespaceTag, "app");
            common.CustomTags.Add(RequestMetricsEnvoyConfig.DestinationWorkloadTag, $"{service};app;{service};v1;Kubernetes");
            var entry = new HTTPAccessLogEntry
            {
                CommonProperties = common,
                ProtocolVersion = HTTPAccessLogEntry.Types.HTTPVersion.Http11,
                Request = new HTTPRequestProperties
                {
                    RequestMethod = RequestMethod.Get,
                    Scheme = "http",
                    Authority = "10.96.0.10",
                    Path = "/items/42",
                    UserAgent = "bench",
                    RequestId = Guid.NewGuid().ToString(),
                    RequestHeadersBytes = 180,
                },
                Response = new HTTPResponseProperties
                {
                    ResponseCode = i % 16 == 15 ? 503u : 200u,
                    ResponseHeadersBytes = 120,
                    ResponseBodyBytes = 310,
                    ResponseCodeDetails = "via_upstream",
                },
            };
            logs.LogEntry.Add(entry);
        }

        return new StreamAccessLogsMessage { HttpLogs = logs };
    }
}
