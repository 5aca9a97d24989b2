using k8s;
using k8s.Models;
using Waypoint.Controller.Reconciliation;

namespace Waypoint.Controller.Tests.Reconciliation;

/// <summary>What the Pod informer keeps of a Pod: the fields the controller and the translator read, nothing else.</summary>
public sealed class PodProjectionTests
{
    private const string FullPod = """
        {"apiVersion":"v1","kind":"Pod",
         "metadata":{"name":"reviews-7d9f-abcde","namespace":"apps","uid":"u-1","resourceVersion":"42","generation":1,
           "labels":{"app":"reviews","pod-template-hash":"7d9f","istio.io/dataplane-mode":"ambient"},
           "annotations":{"kubectl.kubernetes.io/restartedAt":"2026-12-01T00:00:00Z"},
           "deletionTimestamp":"2026-12-03T10:00:00Z",
           "ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"reviews-7d9f","uid":"rs-1","controller":true},
                              {"apiVersion":"v1","kind":"ConfigMap","name":"not-a-controller","uid":"cm-1"}]},
         "spec":{"serviceAccountName":"reviews","containers":[{"name":"app","image":"reviews:1","env":[{"name":"A","value":"B"}]}],
           "volumes":[{"name":"kube-api-access","projected":{"sources":[{"serviceAccountToken":{"path":"token"}}]}}],
           "tolerations":[{"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute","tolerationSeconds":300}]},
         "status":{"phase":"Running","podIP":"10.244.0.7","podIPs":[{"ip":"10.244.0.7"}],
           "conditions":[{"type":"PodScheduled","status":"True","lastTransitionTime":"2026-12-03T08:59:00Z"},
             {"type":"Ready","status":"True","lastTransitionTime":"2026-12-03T09:00:00Z","lastProbeTime":null}],
           "containerStatuses":[{"name":"app","ready":true,"restartCount":0,"image":"reviews:1","imageID":"x"}]}}
        """;

    [Fact]
    public void A_Pod_Keeps_What_Is_Read_And_Drops_Its_Spec_Annotations_And_Timestamps()
    {
        var pod = PodProjection.Of(KubernetesJson.Deserialize<V1Pod>(FullPod));

        Assert.Equal(("reviews-7d9f-abcde", "apps", "u-1", "42"), (pod.Metadata.Name, pod.Metadata.NamespaceProperty, pod.Metadata.Uid, pod.Metadata.ResourceVersion));
        Assert.Equal("reviews", pod.Metadata.Labels["app"]);
        Assert.Equal("ambient", pod.Metadata.Labels["istio.io/dataplane-mode"]);
        Assert.NotNull(pod.Metadata.DeletionTimestamp);
        var owner = Assert.Single(pod.Metadata.OwnerReferences);
        Assert.Equal(("ReplicaSet", "reviews-7d9f", true), (owner.Kind, owner.Name, owner.Controller));
        Assert.Equal(("Running", "10.244.0.7"), (pod.Status.Phase, pod.Status.PodIP));
        // Only status.podIP is read, so status.podIPs is dropped.
        Assert.Null(pod.Status.PodIPs);
        // Only the Ready condition is read (is a waypoint pod Ready?), so only it is kept, in a list every Ready Pod shares.
        var ready = Assert.Single(pod.Status.Conditions);
        Assert.Equal(("Ready", "True", (DateTime?)null), (ready.Type, ready.Status, ready.LastTransitionTime));
        Assert.Same(pod.Status.Conditions, PodProjection.Of(KubernetesJson.Deserialize<V1Pod>(FullPod)).Status.Conditions);
        Assert.True(pod.Status.Conditions.IsReadOnly);

        Assert.Null(pod.Spec);
        Assert.Null(pod.Metadata.Annotations);
        Assert.Null(pod.Metadata.ManagedFields);
        Assert.Null(pod.Status.ContainerStatuses);
        var json = KubernetesJson.Serialize(pod);
        Assert.DoesNotContain("containers", json, StringComparison.Ordinal);
        Assert.DoesNotContain("lastTransitionTime", json, StringComparison.Ordinal);
        Assert.True(json.Length * 2 < FullPod.Length, $"projection {json.Length} chars of {FullPod.Length}");
    }

    [Fact]
    public void A_Pod_Without_Status_Or_Owners_Stays_Without_Them()
    {
        var pod = PodProjection.Of(new V1Pod { Metadata = new V1ObjectMeta { Name = "bare", NamespaceProperty = "apps" } });

        Assert.Equal("bare", pod.Metadata.Name);
        Assert.Null(pod.Status);
        Assert.Null(pod.Metadata.OwnerReferences);
        Assert.Null(pod.Metadata.Labels);
    }
}
