using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Waypoint.Box.Product;

/// <summary>
/// What <c>kubectl describe</c> and <c>kubectl logs</c> would tell about a Deployment that is not Available, through
/// the API alone: its conditions, then each of its pods (phase, conditions that are not True, each container's state,
/// restarts and last termination) and the last lines of each unready container's log (the previous run's too when it
/// restarted), fetched from the kubelet through the API server.
/// </summary>
public sealed class DeploymentDiagnosis(HttpClient api)
{
    private const int LogLines = 20;

    /// <summary>The Deployment's and its pods' state as text, one fact a line; never throws for a missing object.</summary>
    public async Task<string> DescribeAsync(string ns, string name, CancellationToken cancellationToken)
    {
        var text = new StringBuilder();
        using var deployment = await GetAsync($"/apis/apps/v1/namespaces/{Uri.EscapeDataString(ns)}/deployments/{Uri.EscapeDataString(name)}", cancellationToken).ConfigureAwait(false);
        if (deployment is null)
        {
            return $"Deployment {ns}/{name} does not exist.";
        }

        var root = deployment.RootElement;
        text.Append(CultureInfo.InvariantCulture, $"Deployment {ns}/{name}: {DeploymentSummary(root)}").AppendLine();
        foreach (var condition in Conditions(root))
        {
            text.Append("  ").AppendLine(condition);
        }

        var selector = root.GetProperty("spec").GetProperty("selector").TryGetProperty("matchLabels", out var labels)
            ? string.Join(',', labels.EnumerateObject().Select(l => $"{l.Name}={l.Value.GetString()}"))
            : "";
        using var pods = await GetAsync($"/api/v1/namespaces/{Uri.EscapeDataString(ns)}/pods?labelSelector={Uri.EscapeDataString(selector)}", cancellationToken).ConfigureAwait(false);
        var items = pods?.RootElement.GetProperty("items").EnumerateArray().ToList() ?? [];
        if (items.Count == 0)
        {
            text.AppendLine("  no pods (see the ReplicaSet's events: quota, admission or scheduling).");
        }

        foreach (var pod in items)
        {
            await DescribePodAsync(ns, pod, text, cancellationToken).ConfigureAwait(false);
        }

        return text.ToString().TrimEnd();
    }

    private async Task DescribePodAsync(string ns, JsonElement pod, StringBuilder text, CancellationToken cancellationToken)
    {
        var podName = pod.GetProperty("metadata").GetProperty("name").GetString()!;
        var status = pod.TryGetProperty("status", out var s) ? s : default;
        var phase = status.ValueKind == JsonValueKind.Object && status.TryGetProperty("phase", out var p) ? p.GetString() : "?";
        var node = pod.GetProperty("spec").TryGetProperty("nodeName", out var n) ? n.GetString() : "(not scheduled)";
        var ip = status.ValueKind == JsonValueKind.Object && status.TryGetProperty("podIP", out var i) ? i.GetString() : "-";
        text.Append(CultureInfo.InvariantCulture, $"Pod {ns}/{podName}: phase {phase}, node {node}, IP {ip}").AppendLine();
        if (status.ValueKind != JsonValueKind.Object)
        {
            return;
        }

        foreach (var condition in Conditions(pod).Where(c => !c.Contains("=True", StringComparison.Ordinal)))
        {
            text.Append("  ").AppendLine(condition);
        }

        foreach (var kind in new[] { "initContainerStatuses", "containerStatuses" })
        {
            if (!status.TryGetProperty(kind, out var containers))
            {
                continue;
            }

            foreach (var container in containers.EnumerateArray())
            {
                var name = container.GetProperty("name").GetString()!;
                var ready = container.TryGetProperty("ready", out var r) && r.GetBoolean();
                var restarts = container.TryGetProperty("restartCount", out var rc) ? rc.GetInt32() : 0;
                text.Append(CultureInfo.InvariantCulture, $"  container {name}: ready {ready.ToString().ToLowerInvariant()}, restarts {restarts}, {State(container, "state")}");
                if (container.TryGetProperty("lastState", out var last) && last.TryGetProperty("terminated", out _))
                {
                    text.Append("; last ").Append(State(container, "lastState"));
                }

                text.AppendLine();
                if (!ready)
                {
                    await AppendLogAsync(ns, podName, name, previous: false, text, cancellationToken).ConfigureAwait(false);
                    if (restarts > 0)
                    {
                        await AppendLogAsync(ns, podName, name, previous: true, text, cancellationToken).ConfigureAwait(false);
                    }
                }
            }
        }
    }

    private async Task AppendLogAsync(string ns, string pod, string container, bool previous, StringBuilder text, CancellationToken cancellationToken)
    {
        var path = $"/api/v1/namespaces/{Uri.EscapeDataString(ns)}/pods/{Uri.EscapeDataString(pod)}/log?container={Uri.EscapeDataString(container)}&tailLines={LogLines}{(previous ? "&previous=true" : "")}";
        string body;
        try
        {
            using var response = await api.GetAsync(path, cancellationToken).ConfigureAwait(false);
            body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                text.Append(CultureInfo.InvariantCulture, $"    (its {(previous ? "previous " : "")}log is unavailable: {(int)response.StatusCode} {Message(body)})").AppendLine();
                return;
            }
        }
        catch (HttpRequestException ex)
        {
            text.Append(CultureInfo.InvariantCulture, $"    (its log is unavailable: {ex.Message})").AppendLine();
            return;
        }

        var lines = body.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        text.Append(CultureInfo.InvariantCulture, $"    last {lines.Length} lines of its {(previous ? "previous run's " : "")}log:").AppendLine();
        foreach (var line in lines)
        {
            text.Append("      ").AppendLine(line.Length > 400 ? line[..400] + "..." : line);
        }
    }

    private static string State(JsonElement container, string property)
    {
        if (!container.TryGetProperty(property, out var state))
        {
            return "no state";
        }

        if (state.TryGetProperty("waiting", out var waiting))
        {
            return $"waiting ({Field(waiting, "reason")}{Suffix(waiting)})";
        }

        if (state.TryGetProperty("terminated", out var terminated))
        {
            return $"terminated (exit code {(terminated.TryGetProperty("exitCode", out var code) ? code.GetInt32() : -1)}, {Field(terminated, "reason")}{Suffix(terminated)})";
        }

        return state.TryGetProperty("running", out _) ? "running" : "no state";

        static string Suffix(JsonElement e) => e.TryGetProperty("message", out var m) && m.GetString() is { Length: > 0 } message ? ": " + message : "";
    }

    private static string DeploymentSummary(JsonElement deployment)
    {
        var spec = deployment.GetProperty("spec");
        var status = deployment.TryGetProperty("status", out var s) ? s : default;
        int Count(string name) => status.ValueKind == JsonValueKind.Object && status.TryGetProperty(name, out var v) ? v.GetInt32() : 0;
        var replicas = spec.TryGetProperty("replicas", out var r) ? r.GetInt32() : 1;
        return $"{replicas} desired, {Count("updatedReplicas")} updated, {Count("readyReplicas")} ready, {Count("availableReplicas")} available";
    }

    private static IEnumerable<string> Conditions(JsonElement obj)
    {
        if (!obj.TryGetProperty("status", out var status) || !status.TryGetProperty("conditions", out var conditions))
        {
            yield break;
        }

        foreach (var condition in conditions.EnumerateArray())
        {
            var reason = Field(condition, "reason");
            var message = condition.TryGetProperty("message", out var m) ? m.GetString() : null;
            yield return $"{Field(condition, "type")}={Field(condition, "status")}{(reason == "" ? "" : " " + reason)}{(string.IsNullOrEmpty(message) ? "" : ": " + message)}";
        }
    }

    private static string Field(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : "";

    private static string Message(string body)
    {
        try
        {
            using var json = JsonDocument.Parse(body);
            return json.RootElement.TryGetProperty("message", out var message) ? message.GetString() ?? body : body;
        }
        catch (JsonException)
        {
            return body.Trim();
        }
    }

    private async Task<JsonDocument?> GetAsync(string path, CancellationToken cancellationToken)
    {
        using var response = await api.GetAsync(path, cancellationToken).ConfigureAwait(false);
        return response.IsSuccessStatusCode
            ? JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false))
            : null;
    }
}
