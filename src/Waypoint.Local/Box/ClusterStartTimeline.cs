using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Waypoint.Box;

namespace Waypoint.Local.Box;

/// <summary>
/// Adds to a box's <see cref="BoxStartTimeline"/> what only the cluster knows, read from the API server once the mesh is
/// up: when the Node registered, when the controller's leader took the Lease, and for the product's pods (the
/// controller replicas, every waypoint pod) and the client pod when each was created, scheduled, each container
/// started and the pod turned Ready. Those times are the objects' own (whole seconds, except the Lease's).
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
internal static class ClusterStartTimeline
{
    /// <summary>The label the controller puts on a waypoint's pods.</summary>
    private const string GatewayNameLabel = "gateway.networking.k8s.io/gateway-name";

    public static async Task RecordAsync(HttpClient admin, BoxStartTimeline timeline, string controllerNamespace, string leaseName, CancellationToken cancellationToken)
    {
        foreach (var node in await ListAsync(admin, "/api/v1/nodes", cancellationToken).ConfigureAwait(false))
        {
            if (Time(node["metadata"]?["creationTimestamp"]) is { } registered)
            {
                timeline.MarkAt($"node {Name(node)} registered", registered, "Node created by the kubelet");
            }
        }

        var lease = await admin.GetFromJsonAsync<JsonObject>(
            new Uri($"/apis/coordination.k8s.io/v1/namespaces/{Uri.EscapeDataString(controllerNamespace)}/leases/{Uri.EscapeDataString(leaseName)}", UriKind.Relative),
            cancellationToken).ConfigureAwait(false);
        if (Time(lease?["spec"]?["acquireTime"]) is { } acquired)
        {
            timeline.MarkAt("controller leader elected", acquired, $"Lease {controllerNamespace}/{leaseName} held by {lease?["spec"]?["holderIdentity"]?.GetValue<string>()}");
        }

        foreach (var pod in await ListAsync(admin, "/api/v1/pods", cancellationToken).ConfigureAwait(false))
        {
            var ns = pod["metadata"]?["namespace"]?.GetValue<string>() ?? "";
            var isWaypoint = pod["metadata"]?["labels"]?[GatewayNameLabel] is not null;
            if (ns != controllerNamespace && !isWaypoint && $"{ns}/{Name(pod)}" != LocalClientPod.Key)
            {
                continue;
            }

            RecordPod(timeline, pod, isWaypoint ? "waypoint pod" : ns == controllerNamespace ? "controller pod" : "client pod");
        }
    }

    private static void RecordPod(BoxStartTimeline timeline, JsonNode pod, string role)
    {
        var key = $"{role} {pod["metadata"]?["namespace"]?.GetValue<string>()}/{Name(pod)}";
        if (Time(pod["metadata"]?["creationTimestamp"]) is { } created)
        {
            timeline.MarkAt($"{key} created", created);
        }

        foreach (var condition in (pod["status"]?["conditions"]?.AsArray() ?? []).OfType<JsonNode>())
        {
            var type = condition["type"]?.GetValue<string>();
            if (condition["status"]?.GetValue<string>() == "True" && type is "PodScheduled" or "Ready" && Time(condition["lastTransitionTime"]) is { } at)
            {
                timeline.MarkAt($"{key} {(type == "PodScheduled" ? "scheduled" : "Ready")}", at);
            }
        }

        foreach (var container in (pod["status"]?["containerStatuses"]?.AsArray() ?? []).OfType<JsonNode>())
        {
            if (Time(container["state"]?["running"]?["startedAt"]) is { } started)
            {
                timeline.MarkAt($"{key} container {container["name"]?.GetValue<string>()} started", started);
            }
        }
    }

    private static async Task<IReadOnlyList<JsonNode>> ListAsync(HttpClient admin, string path, CancellationToken cancellationToken)
    {
        var list = await admin.GetFromJsonAsync<JsonObject>(new Uri(path, UriKind.Relative), cancellationToken).ConfigureAwait(false);
        return [.. (list?["items"]?.AsArray() ?? []).OfType<JsonNode>()];
    }

    private static string Name(JsonNode item) => item["metadata"]?["name"]?.GetValue<string>() ?? "";

    private static DateTimeOffset? Time(JsonNode? value) =>
        value?.GetValue<string>() is { } text && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time) ? time : null;
}
