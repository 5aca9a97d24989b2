using System.Net;
using Waypoint.Node;

namespace Waypoint.Ztunnel;

/// <summary>How to run one node's ztunnel (the box fills it in: <see cref="Hosting.BoxZtunnel"/>).</summary>
public sealed record ZtunnelOptions
{
    public required string NodeName { get; init; }

    public required IPAddress NodeAddress { get; init; }

    /// <summary>The ztunnel's own folder (made 0700): config, keys, logs, status.</summary>
    public required string RootDirectory { get; init; }

    /// <summary>The Envoy executable (EnvoyLocator's answer).</summary>
    public required string EnvoyPath { get; init; }

    /// <summary>An API server client allowed to request tokens for any ServiceAccount (the box's admin), <see cref="HttpClient.BaseAddress"/> set.</summary>
    public required HttpClient ApiClient { get; init; }

    /// <summary>The node's running pods and their network namespaces (<see cref="CriServer.PodNetworkNamespaces"/>).</summary>
    public required Func<IReadOnlyList<PodNetworkNamespace>> PodNetworks { get; init; }

    /// <summary>istiod's secure gRPC port (xDS and CA), dialled directly.</summary>
    public IPEndPoint IstiodEndpoint { get; init; } = new(IPAddress.Loopback, 15012);

    /// <summary>The name istiod's serving certificate carries (it has no <c>.cluster.local</c> form).</summary>
    public string IstiodHost { get; init; } = "istiod.istio-system.svc";

    public string IstioNamespace { get; init; } = "istio-system";

    /// <summary>The ztunnel's own ServiceAccount (istiod's <c>CA_TRUSTED_NODE_ACCOUNTS</c> names it).</summary>
    public string ServiceAccount { get; init; } = "ztunnel";

    public string TrustDomain { get; init; } = "cluster.local";

    public string ClusterId { get; init; } = "Kubernetes";

    public TimeSpan CertificateTtl { get; init; } = TimeSpan.FromHours(24);

    /// <summary>Envoy's admin, on loopback of the node's (box's) namespace.</summary>
    public int AdminPort { get; init; } = 15000;

    /// <summary>How often the pod networks are looked at again without a WDS change (pods come and go in the runtime first).</summary>
    public TimeSpan ResyncInterval { get; init; } = TimeSpan.FromSeconds(1);
}
