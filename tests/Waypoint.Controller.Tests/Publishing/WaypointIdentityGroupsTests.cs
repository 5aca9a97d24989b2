using Microsoft.Extensions.Options;
using Waypoint.Controller.Publishing;
using Waypoint.Controller.Reconciliation;
using Waypoint.Controller.Tests.Infrastructure;
using Waypoint.Translator;
using Waypoint.Translator.Model;
using Waypoint.Xds;
using Waypoint.Xds.Security;

namespace Waypoint.Controller.Tests.Publishing;

/// <summary>The controller's identity → node group rule for secured xDS.</summary>
public sealed class WaypointIdentityGroupsTests
{
    private static readonly string Mesh = Objects.OneServiceMesh;

    [Fact]
    public async Task The_Waypoints_Own_ServiceAccount_Reads_Only_Its_Published_Group()
    {
        var options = new WaypointControllerOptions { Namespace = "waypoint-system" };
        var cache = new XdsSnapshotCache();
        var publisher = new XdsConfigPublisher(cache);
        var groups = new WaypointIdentityGroups(cache, Options.Create(options));
        var snapshot = KubernetesObjectLoader.Load(Mesh, "mesh.yaml").ToSnapshot();
        var waypoint = new XdsPeerIdentity("cluster.local", "apps", "waypoint");
        Assert.Empty(groups.GroupsOf(waypoint));   // nothing published yet

        await publisher.PublishAsync(new WaypointConfigUpdate(1, snapshot, new WaypointTranslator().Translate(snapshot), DateTimeOffset.UnixEpoch), CancellationToken.None);

        // The identity the controller's own pod spec gives this waypoint's Envoys is the one granted.
        var gateway = new V1Gateway
        {
            Metadata = new k8s.Models.V1ObjectMeta { Name = "waypoint", NamespaceProperty = "apps", Uid = "uid-1" },
            Spec = new V1GatewaySpec { GatewayClassName = "kgateway-waypoint", Listeners = [new GatewayListener { Name = "mesh", Port = 15008, Protocol = "HBONE" }] },
        };
        var objects = WaypointWorkload.Build(gateway, WaypointWorkload.Resolve(options, gateway), options);
        Assert.Equal(objects.ServiceAccount.Metadata.Name, objects.Deployment.Spec.Template.Spec.ServiceAccountName);
        Assert.Equal(["waypoint.apps"], groups.GroupsOf(waypoint with { ServiceAccount = objects.ServiceAccount.Metadata.Name }));

        Assert.Empty(groups.GroupsOf(waypoint with { ServiceAccount = "default" }));
        Assert.Empty(groups.GroupsOf(waypoint with { Namespace = "other" }));
        Assert.Empty(groups.GroupsOf(waypoint with { TrustDomain = "other.domain" }));

        // Once the Gateway is gone (nothing published for it), its identity reads nothing.
        var empty = KubernetesObjectLoader.Load(Objects.Namespace("apps", "{}"), "empty.yaml").ToSnapshot();
        await publisher.PublishAsync(new WaypointConfigUpdate(2, empty, new WaypointTranslator().Translate(empty), DateTimeOffset.UnixEpoch), CancellationToken.None);
        Assert.Empty(groups.GroupsOf(waypoint));
    }
}
