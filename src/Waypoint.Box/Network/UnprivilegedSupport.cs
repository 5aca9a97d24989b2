using System.Diagnostics;
using System.Globalization;

namespace Waypoint.Box.Network;

/// <summary>
/// What the box needs from the kernel when its user is not root, checked on this machine: each property is null when
/// it is there, else why not. The control plane needs user namespaces (with network and mount namespaces inside)
/// and mounts in them (the kubelet's tmpfs and bind mounts); cgroup delegation is listed because a rootless
/// container runtime needs it, although the box's node runs without cgroups of its own (<c>cgroupsPerQOS: false</c>).
/// </summary>
public sealed record UnprivilegedSupport(string? UserNamespaces, string? Mounts, string? CgroupDelegation)
{
    /// <summary>Whether an unprivileged box can make its namespaces here.</summary>
    public bool CanMakeNamespaces => UserNamespaces is null && Mounts is null;

    /// <summary>One line: each requirement and whether it is met.</summary>
    public string Describe() =>
        $"user namespaces: {UserNamespaces ?? "yes"}; mounts inside one: {Mounts ?? "yes"}; cgroup delegation: {CgroupDelegation ?? "yes"}";

    /// <summary>Checks this machine for the user this process runs as (by running <c>unshare</c> and reading <c>/sys/fs/cgroup</c>).</summary>
    public static UnprivilegedSupport Check()
    {
        var userNamespaces = BoxLauncher.TryUnshare(BoxNamespaceMode.UserNamespace, "true");
        string? mounts = "not tried (no user namespace)";
        if (userNamespaces is null)
        {
            var target = Directory.CreateTempSubdirectory("waypoint-mount-check-");
            try
            {
                // The mount lives only in the namespace unshare makes, which is gone when it exits.
                mounts = BoxLauncher.TryUnshare(BoxNamespaceMode.UserNamespace, "mount", "-t", "tmpfs", "waypoint-mount-check", target.FullName);
            }
            finally
            {
                target.Delete();
            }
        }
        else
        {
            userNamespaces += BoxLauncher.UserNamespaceHint();
        }

        return new UnprivilegedSupport(userNamespaces, mounts, CgroupDelegationProblem("/sys/fs/cgroup", "/proc/self/cgroup"));
    }

    /// <summary>Null when this user may manage a cgroup of its own (cgroup v2, its cgroup writable), else why not (paths given for tests).</summary>
    public static string? CgroupDelegationProblem(string cgroupRoot, string ownCgroupFile)
    {
        if (!File.Exists(Path.Combine(cgroupRoot, "cgroup.controllers")))
        {
            return $"no: {cgroupRoot} is cgroup v1 (or hybrid), whose hierarchies belong to root; nothing is delegated to an unprivileged user";
        }

        var own = File.ReadLines(ownCgroupFile).FirstOrDefault(l => l.StartsWith("0::", StringComparison.Ordinal));
        if (own is null)
        {
            return $"no: {ownCgroupFile} names no cgroup v2 group for this process";
        }

        var directory = Path.Combine(cgroupRoot, own[3..].TrimStart('/'));
        var procs = Path.Combine(directory, "cgroup.procs");
        return Libc.Access(procs, Libc.WriteOk) == 0
            ? null
            : string.Create(CultureInfo.InvariantCulture, $"no: {procs} is not writable by uid {Libc.GetEffectiveUserId()} (systemd delegates one with `systemd-run --user --scope -p Delegate=yes`)");
    }
}
