using System.Net;
using Waypoint.Node.Images;

namespace Waypoint.Node;

/// <summary>
/// Everything the box gives its node: the API server and the PKI it issued, the node's name and IP, a root
/// directory, and which images run which host executables.
/// </summary>
public sealed record NodeOptions
{
    /// <summary>The API server as seen from the box's network namespace, e.g. <c>https://127.0.0.1:6443</c>.</summary>
    public required Uri ApiServer { get; init; }

    /// <summary>The box CA (PEM).</summary>
    public required string CaCertificatePath { get; init; }

    /// <summary>Client certificate <c>O=system:nodes, CN=system:node:&lt;NodeName&gt;</c> and its key (PEM).</summary>
    public required string KubeletClientCertificatePath { get; init; }

    public required string KubeletClientKeyPath { get; init; }

    /// <summary>Serving certificate of the kubelet's port 10250 (SAN <c>IP:&lt;NodeAddress&gt;</c>) and its key (PEM).</summary>
    public required string KubeletServingCertificatePath { get; init; }

    public required string KubeletServingKeyPath { get; init; }

    public required string NodeName { get; init; }

    /// <summary>The node IP, already an address of an interface of the box (10.244.0.2/32 on <c>lo</c>).</summary>
    public IPAddress NodeAddress { get; init; } = IPAddress.Parse("10.244.0.2");

    /// <summary>The node's state: <c>kubelet/</c> (kubelet root dir), <c>runtime/</c> (pod netns files, staging).</summary>
    public required string RootDirectory { get; init; }

    /// <summary>The CRI socket; default <c>&lt;RootDirectory&gt;/cri.sock</c> (at most 107 bytes).</summary>
    public string? SocketPath { get; init; }

    public required ImageMap Images { get; init; }

    /// <summary>The kubelet binary, e.g. <c>Path.Combine(k8sAssets, "kubelet")</c>.</summary>
    public required string KubeletPath { get; init; }

    public IPAddress ClusterDns { get; init; } = IPAddress.Parse("10.96.0.10");

    public string ClusterDomain { get; init; } = "cluster.local";

    internal string EffectiveSocketPath => SocketPath ?? Path.Combine(RootDirectory, "cri.sock");
}
