using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Waypoint.Translator.Model;
using Waypoint.Translator.Telemetry;

namespace Waypoint.Translator.Internal;

/// <summary>
/// The access-log and tracing settings of one waypoint: the install's <see cref="TelemetryOptions"/>, overridden by
/// its GatewayClass's WaypointParameters, then by its Gateway's (field by field).
/// </summary>
/// <remarks>A value type, so that it keys the chain cache by value (<see cref="RefKey"/>).</remarks>
/// <param name="CollectorHost">The OTLP/gRPC collector's DNS name or IP; null when tracing is off.</param>
internal readonly partial record struct WaypointTelemetry(bool AccessLogs, string? CollectorHost, int CollectorPort, double SamplingPercent)
{
    public static WaypointTelemetry Off { get; } = new(false, null, 0, 0);

    public bool Tracing => CollectorHost is not null;

    /// <summary>
    /// Resolves the settings, or says what is wrong (naming the object and the field). A <c>tracing</c> or
    /// <c>accessLogs</c> stanza turns its feature on unless it says <c>enabled: false</c>.
    /// </summary>
    /// <param name="layers">WaypointParameters from the least to the most specific (class, then Gateway); nulls are skipped.</param>
    public static WaypointTelemetry Resolve(TelemetryOptions defaults, IEnumerable<V1alpha1WaypointParameters?> layers, out string? problem)
    {
        problem = null;
        var accessLogs = defaults.AccessLogs;
        var tracing = defaults.Tracing is not null;
        var collector = defaults.Tracing?.Collector;
        var sampling = defaults.Tracing?.SamplingPercent ?? TracingOptions.DefaultSamplingPercent;
        var source = "the controller's tracing settings";
        foreach (var layer in layers)
        {
            if (layer?.Spec.Telemetry is not { } telemetry)
            {
                continue;
            }

            if (telemetry.AccessLogs is { } logs)
            {
                accessLogs = logs.Enabled ?? true;
            }

            if (telemetry.Tracing is { } trace)
            {
                tracing = trace.Enabled ?? true;
                if (trace.Collector is not null || trace.SamplingPercent is not null)
                {
                    source = $"WaypointParameters {layer.Metadata.NamespaceProperty}/{layer.Metadata.Name} spec.telemetry.tracing";
                }

                collector = trace.Collector ?? collector;
                sampling = trace.SamplingPercent ?? sampling;
            }
        }

        if (!tracing)
        {
            return new WaypointTelemetry(accessLogs, null, 0, 0);
        }

        if (string.IsNullOrEmpty(collector))
        {
            problem = $"Tracing is enabled but no collector is set ({source}): set collector to the OTLP/gRPC host:port.";
            return Off;
        }

        if (!TryParseHostPort(collector, out var host, out var port))
        {
            problem = $"Tracing collector '{collector}' ({source}) is not host:port (a DNS name or IP, IPv6 in brackets, and a port 1-65535).";
            return Off;
        }

        if (double.IsNaN(sampling) || sampling < 0 || sampling > 100)
        {
            problem = $"Tracing samplingPercent {sampling.ToString(CultureInfo.InvariantCulture)} ({source}) is not between 0 and 100.";
            return Off;
        }

        return new WaypointTelemetry(accessLogs, host, port, sampling);
    }

    /// <summary><c>host:port</c> with a DNS name or IPv4, or <c>[IPv6]:port</c>.</summary>
    public static bool TryParseHostPort(string value, out string host, out int port)
    {
        host = string.Empty;
        port = 0;
        var colon = value.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(value.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535)
        {
            return false;
        }

        var hostPart = value[..colon];
        if (hostPart.StartsWith('[') && hostPart.EndsWith(']'))
        {
            var inner = hostPart[1..^1];
            if (!IPAddress.TryParse(inner, out var v6) || v6.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6)
            {
                return false;
            }

            host = inner;
            return true;
        }

        if (!DnsName().IsMatch(hostPart))
        {
            return false;
        }

        host = hostPart;
        return true;
    }

    /// <summary>RFC 1123 host names (an IPv4 address is one too).</summary>
    [GeneratedRegex(@"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$", RegexOptions.CultureInvariant)]
    private static partial Regex DnsName();
}
