using k8s.Models;
using Waypoint.Translator.Model;

namespace Waypoint.Translator.Internal;

internal enum PortProtocol
{
    /// <summary>Undeclared: sniffed with http_inspector, served by both an HTTP and a TCP chain.</summary>
    Auto,
    Http,

    /// <summary>HTTP/2 to the upstream (http2, grpc).</summary>
    Http2,
    Tcp,
}

internal sealed record ServicePortModel(int Port, string? Name, PortProtocol Protocol, IntOrString? TargetPort)
{
    public bool IsHttp => Protocol is PortProtocol.Http or PortProtocol.Http2 or PortProtocol.Auto;

    public bool IsTcp => Protocol is PortProtocol.Tcp or PortProtocol.Auto;
}

/// <summary>A Service or one host of a ServiceEntry, normalized.</summary>
internal sealed class ServiceModel
{
    public required string Kind { get; init; }

    public required string Namespace { get; init; }

    public required string Name { get; init; }

    /// <summary>FQDN: <c>name.ns.svc.&lt;domain&gt;</c> or the ServiceEntry host.</summary>
    public required string Host { get; init; }

    public required IReadOnlyList<string> Vips { get; init; }

    public required IReadOnlyList<ServicePortModel> Ports { get; init; }

    public required IDictionary<string, string>? Labels { get; init; }

    /// <summary>The Kubernetes object this model came from (reference identity keys the caches).</summary>
    public required object Source { get; init; }

    /// <summary>ServiceEntry resolution DNS/DNS_ROUND_ROBIN: endpoints are hostnames.</summary>
    public bool DnsResolution { get; init; }

    public string DisplayName => Kind == WellKnown.ServiceKind ? $"{Namespace}/{Name}" : $"{Namespace}/{Name}/{Host}";

    public ServicePortModel? FindPort(int port)
    {
        foreach (var p in Ports)
        {
            if (p.Port == port)
            {
                return p;
            }
        }

        return null;
    }

    public static ServiceModel? FromService(V1Service service, string clusterDomain)
    {
        var spec = service.Spec;
        if (spec is null || string.Equals(spec.Type, "ExternalName", StringComparison.Ordinal))
        {
            return null;
        }

        var vips = new List<string>();
        if (spec.ClusterIPs is { Count: > 0 })
        {
            vips.AddRange(spec.ClusterIPs.Where(IsIp));
        }
        else if (IsIp(spec.ClusterIP))
        {
            vips.Add(spec.ClusterIP!);
        }

        var ports = new List<ServicePortModel>();
        foreach (var port in spec.Ports ?? [])
        {
            if (port.Protocol is "UDP" or "SCTP" || port.Port is <= 0 or > 65535)
            {
                continue;
            }

            ports.Add(new ServicePortModel(port.Port, port.Name, Protocols.Detect(port.AppProtocol, port.Name), port.TargetPort ?? (IntOrString)port.Port));
        }

        var ns = service.Metadata.NamespaceProperty ?? "default";
        return new ServiceModel
        {
            Kind = WellKnown.ServiceKind,
            Namespace = ns,
            Name = service.Metadata.Name,
            Host = $"{service.Metadata.Name}.{ns}.svc.{clusterDomain}",
            Vips = vips,
            Ports = ports,
            Labels = service.Metadata.Labels,
            Source = service,
        };
    }

    public static IEnumerable<ServiceModel> FromServiceEntry(V1ServiceEntry entry)
    {
        var spec = entry.Spec;
        var ns = entry.Metadata.NamespaceProperty ?? "default";
        var ports = new List<ServicePortModel>();
        foreach (var port in spec.Ports ?? [])
        {
            if (port.Protocol is "UDP" || port.Number is <= 0 or > 65535)
            {
                continue;
            }

            var target = port.TargetPort is > 0 ? port.TargetPort.Value : port.Number;
            ports.Add(new ServicePortModel(port.Number, port.Name, Protocols.DetectIstio(port.Protocol, port.Name), (IntOrString)target));
        }

        var specVips = (spec.Addresses ?? []).Select(StripCidr).Where(IsIp).ToList();
        foreach (var host in (spec.Hosts ?? []).Distinct(StringComparer.Ordinal))
        {
            var vips = specVips.Count > 0
                ? specVips
                : (entry.Status?.Addresses ?? []).Where(a => a.Host is null || a.Host == host).Select(a => StripCidr(a.Value)).Where(IsIp).ToList();
            yield return new ServiceModel
            {
                Kind = WellKnown.ServiceEntryKind,
                Namespace = ns,
                Name = entry.Metadata.Name,
                Host = host,
                Vips = vips,
                Ports = ports,
                Labels = entry.Metadata.Labels,
                Source = entry,
                DnsResolution = spec.Resolution is "DNS" or "DNS_ROUND_ROBIN",
            };
        }
    }

    private static string StripCidr(string address)
    {
        var slash = address.IndexOf('/', StringComparison.Ordinal);
        return slash < 0 ? address : address[..slash];
    }

    internal static bool IsIp(string? value) =>
        !string.IsNullOrEmpty(value) && value != "None" && System.Net.IPAddress.TryParse(value, out _);
}

internal static class Protocols
{
    /// <summary>appProtocol first, then the port-name prefix (<c>http-web</c>), as Istio does.</summary>
    public static PortProtocol Detect(string? appProtocol, string? portName)
    {
        if (!string.IsNullOrEmpty(appProtocol))
        {
            var fromApp = FromToken(appProtocol);
            if (fromApp is not null)
            {
                return fromApp.Value;
            }
        }

        if (!string.IsNullOrEmpty(portName))
        {
            var dash = portName.IndexOf('-', StringComparison.Ordinal);
            var prefix = dash < 0 ? portName : portName[..dash];
            var fromName = FromToken(prefix);
            if (fromName is not null)
            {
                return fromName.Value;
            }
        }

        return PortProtocol.Auto;
    }

    /// <summary>ServiceEntry <c>ports.protocol</c> (HTTP, HTTP2, GRPC, TCP, TLS, ...), else the port name.</summary>
    public static PortProtocol DetectIstio(string? protocol, string? portName) =>
        string.IsNullOrEmpty(protocol) ? Detect(null, portName) : FromToken(protocol) ?? PortProtocol.Tcp;

    private static PortProtocol? FromToken(string token) => token.ToLowerInvariant() switch
    {
        "http" or "http1" or "kubernetes.io/ws" => PortProtocol.Http,
        "http2" or "grpc" or "grpc-web" or "h2c" or "kubernetes.io/h2c" => PortProtocol.Http2,
        "tcp" or "tls" or "https" or "mongo" or "mysql" or "redis" or "kubernetes.io/wss" => PortProtocol.Tcp,
        _ => null,
    };
}
