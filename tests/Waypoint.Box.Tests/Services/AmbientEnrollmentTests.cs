using k8s.Models;
using Waypoint.Box.Services;

namespace Waypoint.Box.Tests.Services;

public sealed class AmbientEnrollmentTests
{
    private static readonly Dictionary<string, string> AmbientNamespace = new() { ["istio.io/dataplane-mode"] = "ambient" };

    [Fact]
    public void A_Service_Of_An_Ambient_Namespace_Is_Enrolled() =>
        Assert.True(AmbientEnrollment.IsEnrolled(Service(null), AmbientNamespace));

    [Fact]
    public void A_Service_Labelled_Ambient_Is_Enrolled_In_Any_Namespace()
    {
        Assert.True(AmbientEnrollment.IsEnrolled(Service("ambient"), null));
        Assert.True(AmbientEnrollment.IsEnrolled(Service("ambient"), new Dictionary<string, string>()));
    }

    [Fact]
    public void The_Service_Label_None_Overrides_An_Ambient_Namespace() =>
        Assert.False(AmbientEnrollment.IsEnrolled(Service("none"), AmbientNamespace));

    [Fact]
    public void Without_Labels_A_Service_Is_Not_Enrolled()
    {
        Assert.False(AmbientEnrollment.IsEnrolled(Service(null), null));
        Assert.False(AmbientEnrollment.IsEnrolled(Service(null), new Dictionary<string, string> { ["istio.io/dataplane-mode"] = "none" }));
    }

    private static V1Service Service(string? mode) => new()
    {
        Metadata = new V1ObjectMeta
        {
            Name = "echo",
            NamespaceProperty = "demo",
            Labels = mode is null ? null : new Dictionary<string, string> { ["istio.io/dataplane-mode"] = mode },
        },
    };
}
