using Waypoint.Transformation.Compilation;
using Waypoint.Transformation.Model;

namespace Waypoint.Transformation.Tests.Compilation;

public sealed class TrafficPolicyStatusTests
{
    private static readonly PolicyAncestorReference s_route = new() { Group = "gateway.networking.k8s.io", Kind = "HTTPRoute", Namespace = "apps", Name = "target" };
    private static readonly DateTime s_now = new(2026, 11, 28, 0, 0, 0, DateTimeKind.Utc);

    [Fact]
    public void InvalidTemplate_AcceptedFalse_ReasonInvalid_NamingTheProblem()
    {
        var policy = PolicyYaml.Policy("broken", "transformation:\n  request:\n    set:\n    - name: x\n      value: '{{ nope() }}'");
        var status = TrafficPolicyStatus.ForAncestor(policy, TrafficPolicyCompiler.Compile(policy), s_route, "waypoint.dev/controller", null, s_now);

        var condition = Assert.Single(status.Conditions);
        Assert.Equal(("Accepted", "False", "Invalid"), (condition.Type, condition.Status, condition.Reason));
        Assert.StartsWith("Policy not applied: spec.transformation.request.set[0].value: invalid template at line 1, column 4: unknown function 'nope'", condition.Message, StringComparison.Ordinal);
        Assert.Equal(s_route, status.AncestorRef);
    }

    [Fact]
    public void LosingPolicy_AcceptedFalse_ReasonConflicted()
    {
        var policy = PolicyYaml.Policy("newer", "timeouts:\n  request: 1s");
        var conflicts = new[] { new PolicyConflict("apps/newer", "apps/older", "timeouts.request", PolicyLevel.Route) };
        var status = TrafficPolicyStatus.ForAncestor(policy, TrafficPolicyCompiler.Compile(policy), s_route, "c", conflicts, s_now);

        var condition = Assert.Single(status.Conditions);
        Assert.Equal(("False", "Conflicted"), (condition.Status, condition.Reason));
        Assert.Contains("apps/older", condition.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ValidPolicy_Accepted()
    {
        var policy = PolicyYaml.Policy("ok", "timeouts:\n  request: 1s");
        var status = TrafficPolicyStatus.ForAncestor(policy, TrafficPolicyCompiler.Compile(policy), s_route, "c", [], s_now);
        Assert.Equal(("True", "Accepted"), (status.Conditions[0].Status, status.Conditions[0].Reason));
    }
}
