using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Waypoint.Cli.Connection;
using Waypoint.Controller.Diagnostics;

namespace Waypoint.Cli;

/// <summary>
/// Reads the controller's debug API from every replica the locator finds. Each replica serves xDS to the Envoys that
/// connected to it, so connected Envoys and NACKs are the union over replicas; everything else (decided by the
/// translation every replica makes) is taken from the leader, else the first replica that answered.
/// </summary>
public sealed class ControllerDebugClient(IControllerLocator locator)
{
    public async Task<WaypointListDocument> GetWaypointsAsync(string? ns, CancellationToken cancellationToken)
    {
        var path = ns is null ? "debug/waypoints" : $"debug/waypoints?namespace={Uri.EscapeDataString(ns)}";
        var answers = await GetFromAllAsync<WaypointListDocument>(path, cancellationToken).ConfigureAwait(false);
        return Merge(answers);
    }

    public async Task<WaypointConfigDocument> GetConfigAsync(string ns, string gateway, CancellationToken cancellationToken) =>
        (await GetFromAllAsync<WaypointConfigDocument>($"debug/config/{Escape(ns)}/{Escape(gateway)}", cancellationToken, firstOnly: true).ConfigureAwait(false))[0];

    public async Task<JsonObject> GetFullConfigAsync(string ns, string gateway, CancellationToken cancellationToken) =>
        (await GetFromAllAsync<JsonObject>($"debug/config/{Escape(ns)}/{Escape(gateway)}/full", cancellationToken, firstOnly: true).ConfigureAwait(false))[0];

    public async Task<ServiceDescription> DescribeServiceAsync(string ns, string service, CancellationToken cancellationToken) =>
        (await GetFromAllAsync<ServiceDescription>($"debug/services/{Escape(ns)}/{Escape(service)}", cancellationToken, firstOnly: true).ConfigureAwait(false))[0];

    /// <summary>Replicas' documents merged: the leader's waypoints, with every replica's Envoys and NACKs.</summary>
    public static WaypointListDocument Merge(IReadOnlyList<WaypointListDocument> answers)
    {
        ArgumentNullException.ThrowIfNull(answers);
        var primary = answers.FirstOrDefault(a => a.Leader) ?? answers[0];
        var waypoints = primary.Waypoints.Select(w =>
        {
            var others = answers.Where(a => !ReferenceEquals(a, primary))
                .SelectMany(a => a.Waypoints.Where(o => o.Namespace == w.Namespace && o.Name == w.Name)).ToList();
            return w with
            {
                Envoys = w.Envoys.Concat(others.SelectMany(o => o.Envoys)).OrderBy(e => e.NodeId, StringComparer.Ordinal).ThenBy(e => e.ConnectedAt).ToList(),
                Nacks = w.Nacks.Concat(others.SelectMany(o => o.Nacks)).OrderBy(n => n.Time).ToList(),
            };
        }).ToList();
        return primary with { Waypoints = waypoints };
    }

    private static string Escape(string segment) => Uri.EscapeDataString(segment);

    private async Task<IReadOnlyList<T>> GetFromAllAsync<T>(string path, CancellationToken cancellationToken, bool firstOnly = false)
    {
        var replicas = await locator.LocateAsync(cancellationToken).ConfigureAwait(false);
        var answers = new List<T>();
        var failures = new List<string>();
        foreach (var replica in replicas)
        {
            HttpResponseMessage response;
            try
            {
                response = await replica.Http.GetAsync(path, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is HttpRequestException or IOException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
            {
                failures.Add($"{replica.Where}: {(ex is TaskCanceledException ? "no answer in time" : Innermost(ex))}");
                continue;
            }

            using (response)
            {
                if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden or HttpStatusCode.NotFound)
                {
                    // The controller's answer about this request, the same on every replica: no point asking the others.
                    throw new ControllerUnreachableException($"{replica.Where} answered {(int)response.StatusCode} {response.ReasonPhrase}: {await ErrorOfAsync(response, cancellationToken).ConfigureAwait(false)}");
                }

                if (!response.IsSuccessStatusCode)
                {
                    failures.Add($"{replica.Where}: {(int)response.StatusCode} {response.ReasonPhrase} {await ErrorOfAsync(response, cancellationToken).ConfigureAwait(false)}".TrimEnd());
                    continue;
                }

                try
                {
                    answers.Add(await response.Content.ReadFromJsonAsync<T>(ControllerDebugJson.Options, cancellationToken).ConfigureAwait(false)
                        ?? throw new JsonException("empty document"));
                }
                catch (JsonException ex)
                {
                    failures.Add($"{replica.Where}: the answer is not the debug API's JSON ({ex.Message}); is this the controller's health port 15021?");
                    continue;
                }
            }

            if (firstOnly)
            {
                break;
            }
        }

        if (answers.Count == 0)
        {
            throw new ControllerUnreachableException($"Could not reach {locator.Description}:\n  " + string.Join("\n  ", failures));
        }

        return answers;
    }

    private static async Task<string> ErrorOfAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return JsonNode.Parse(text)?["error"]?.GetValue<string>() ?? text;
        }
        catch (JsonException)
        {
            return text.Length > 200 ? text[..200] : text;
        }
    }

    private static string Innermost(Exception ex)
    {
        while (ex.InnerException is not null)
        {
            ex = ex.InnerException;
        }

        return ex.Message;
    }
}
