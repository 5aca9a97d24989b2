using Waypoint.TestKit.Kubernetes;
using Xunit.Abstractions;

namespace Waypoint.Controller.Tests.Infrastructure;

/// <summary>The cluster most controller tests start from: namespace apps, whose workloads use the waypoint apps/waypoint, and our GatewayClass.</summary>
internal static class WaypointNamespace
{
    /// <summary>The <see cref="FakeResourceType.Defaults"/> with the optional Istio security CRDs served too.</summary>
    public static IEnumerable<FakeResourceType> WithSecurityTypes => FakeResourceType.Defaults.Append(FakeResourceType.AuthorizationPolicies).Append(FakeResourceType.RequestAuthentications);

    public static async Task<ControllerHarness> StartAsync(ITestOutputHelper output, IEnumerable<FakeResourceType>? types = null)
    {
        var harness = await ControllerHarness.StartAsync(output, types);
        harness.Create(FakeResourceType.Namespaces, Objects.Namespace("apps", """{"istio.io/use-waypoint":"waypoint"}"""));
        harness.Create(FakeResourceType.GatewayClasses, Objects.GatewayClass());
        return harness;
    }
}
