using Waypoint.Box.Network;

namespace Waypoint.Box.Tests;

public sealed class UnprivilegedSupportTests : IDisposable
{
    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("waypoint-cgroup-check-");

    [Fact]
    public void A_cgroup_v1_hierarchy_delegates_nothing()
    {
        var problem = UnprivilegedSupport.CgroupDelegationProblem(_root.FullName, WriteOwnCgroup("0::/\n"));

        Assert.NotNull(problem);
        Assert.Contains("cgroup v1", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void A_cgroup_v2_group_this_user_can_write_is_delegated()
    {
        File.WriteAllText(Path.Combine(_root.FullName, "cgroup.controllers"), "cpu memory pids\n");
        var own = Directory.CreateDirectory(Path.Combine(_root.FullName, "user.slice", "box.scope"));
        File.WriteAllText(Path.Combine(own.FullName, "cgroup.procs"), "");

        Assert.Null(UnprivilegedSupport.CgroupDelegationProblem(_root.FullName, WriteOwnCgroup("0::/user.slice/box.scope\n")));
    }

    [Fact]
    public void A_cgroup_v2_group_that_is_not_writable_is_named()
    {
        File.WriteAllText(Path.Combine(_root.FullName, "cgroup.controllers"), "cpu\n");
        var problem = UnprivilegedSupport.CgroupDelegationProblem(_root.FullName, WriteOwnCgroup("0::/missing.scope\n"));

        Assert.NotNull(problem);
        Assert.Contains("missing.scope/cgroup.procs is not writable", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void The_description_names_each_requirement_and_what_is_missing()
    {
        var support = new UnprivilegedSupport(null, "exit code 32: mount: permission denied", "no: cgroup v1");

        Assert.False(support.CanMakeNamespaces);
        Assert.Equal("user namespaces: yes; mounts inside one: exit code 32: mount: permission denied; cgroup delegation: no: cgroup v1", support.Describe());
        Assert.True(new UnprivilegedSupport(null, null, "no: cgroup v1").CanMakeNamespaces);
    }

    public void Dispose() => _root.Delete(recursive: true);

    private string WriteOwnCgroup(string content)
    {
        var path = Path.Combine(_root.FullName, "self-cgroup");
        File.WriteAllText(path, content);
        return path;
    }
}
