namespace Waypoint.Node.Containers;

/// <summary>A kubelet mount: <see cref="HostPath"/> (in the box's mount namespace) shown at <see cref="ContainerPath"/>.</summary>
public sealed record ContainerMount(string HostPath, string ContainerPath, bool ReadOnly);
