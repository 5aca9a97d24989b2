using System.Net;
using Waypoint.Node.Containers;
using Waypoint.Node.Cri.V1;
using Waypoint.Node.Images;
using Waypoint.Node.Networking;

namespace Waypoint.Node.Runtime;

/// <summary>A pod sandbox: its config from the kubelet, its address and (unless host-network) its network.</summary>
internal sealed class SandboxRecord
{
    public required string Id { get; init; }

    public required PodSandboxConfig Config { get; init; }

    public required long CreatedAt { get; init; }

    public required bool HostNetwork { get; init; }

    public required IPAddress Address { get; init; }

    public PodNetworkAttachment? Network { get; set; }

    /// <summary>The sandbox's resolv.conf (from the kubelet's DNS config), bound at /etc/resolv.conf in every container; null: none asked for.</summary>
    public string? ResolvConfPath { get; init; }

    public PodSandboxState State { get; set; } = PodSandboxState.SandboxReady;

    public string RuntimeHandler { get; init; } = string.Empty;
}

/// <summary>A container: its config, the image it runs, and its process once started.</summary>
internal sealed class ContainerRecord
{
    public required string Id { get; init; }

    public required string SandboxId { get; init; }

    public required ContainerConfig Config { get; init; }

    public required KnownImage Image { get; init; }

    public required long CreatedAt { get; init; }

    public required string LogPath { get; init; }

    public required ContainerLaunch Launch { get; init; }

    public ContainerProcess? Process { get; set; }

    /// <summary>Why the container could not start, when it could not.</summary>
    public ContainerExit? StartFailure { get; set; }

    public string StartFailureMessage { get; set; } = string.Empty;

    public ContainerState State => Process is null
        ? StartFailure is null ? ContainerState.ContainerCreated : ContainerState.ContainerExited
        : Process.Exit is null ? ContainerState.ContainerRunning : ContainerState.ContainerExited;
}
