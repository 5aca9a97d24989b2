using Istio.Workload;
using Waypoint.Ztunnel.Mesh;

namespace Waypoint.Ztunnel.Tests.Mesh;

public sealed class WorkloadBaggageTests
{
    [Fact]
    public void A_Deployment_pod_is_described_by_its_Deployment_canonical_service_and_revision_as_ztunnel_does()
    {
        var workload = new Workload
        {
            Name = "web-5d8f7c9b4-x7k2p",
            Namespace = "shop",
            ClusterId = "Kubernetes",
            WorkloadType = WorkloadType.Deployment,
            WorkloadName = "web",
            CanonicalName = "storefront",
            CanonicalRevision = "v2",
            Locality = new Locality { Region = "eu-west-1", Zone = "eu-west-1a" },
        };
        Assert.Equal(
            "k8s.cluster.name=Kubernetes,k8s.namespace.name=shop,k8s.deployment.name=web,service.name=storefront,service.version=v2,cloud.region=eu-west-1,cloud.availability_zone=eu-west-1a",
            WorkloadBaggage.HeaderValue(workload));
    }

    [Theory]
    [InlineData(WorkloadType.Pod, "k8s.pod.name=batch")]
    [InlineData(WorkloadType.Job, "k8s.job.name=batch")]
    [InlineData(WorkloadType.Cronjob, "k8s.cronjob.name=batch")]
    public void The_workload_key_names_its_kind(WorkloadType type, string member)
    {
        var workload = new Workload { Namespace = "jobs", WorkloadType = type, WorkloadName = "batch" };
        Assert.Equal("k8s.namespace.name=jobs," + member, WorkloadBaggage.HeaderValue(workload));
    }

    [Fact]
    public void Unknown_members_and_values_a_header_format_cannot_carry_are_left_out()
    {
        Assert.Equal("", WorkloadBaggage.HeaderValue(new Workload()));
        var workload = new Workload { Namespace = "demo", WorkloadName = "a,b=c", CanonicalName = "100%", CanonicalRevision = "v 1", ClusterId = "" };
        Assert.Equal("k8s.namespace.name=demo", WorkloadBaggage.HeaderValue(workload));
    }

    [Fact]
    public void Enrolled_pods_carry_the_baggage_of_their_workload()
    {
        var model = NodeMesh.Build(TestMesh.View(), TestMesh.PodNetworks(), TestMesh.AmbientNamespaces, TestMesh.OptedOut, TestMesh.NodeName);
        var client = Assert.Single(model.Pods, p => p.Name == "client");
        Assert.Equal("k8s.cluster.name=Kubernetes,k8s.namespace.name=demo,k8s.deployment.name=sleep,service.name=sleep,service.version=v1", client.Baggage);
        // istiod named no workload for the echo pod: only its namespace.
        Assert.Equal("k8s.namespace.name=demo", Assert.Single(model.Pods, p => p.Name == "echo-a").Baggage);
    }
}
