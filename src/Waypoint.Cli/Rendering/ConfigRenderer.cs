using System.Text;
using System.Text.Json.Nodes;
using Waypoint.Controller.Diagnostics;

namespace Waypoint.Cli.Rendering;

/// <summary>The resource types of <c>waypoint config</c>, as <c>istioctl proxy-config</c> names them.</summary>
public enum ConfigSection
{
    All,
    Listeners,
    Routes,
    Clusters,
    Endpoints,
    Secrets,
}

/// <summary><c>waypoint config</c>: the summary as text, or the full resources of a section for <c>-o json|yaml</c>.</summary>
public static class ConfigRenderer
{
    /// <summary>Why <c>secrets</c> is always empty: certificates never pass through the controller.</summary>
    public const string NoSecrets = "The controller serves no secrets: each waypoint's certificates come to its Envoy from the agent beside it, over SDS on a socket inside the pod, never through xDS.";

    public static bool TryParse(string? text, out ConfigSection section)
    {
        section = ConfigSection.All;
        return text is null || Enum.TryParse(text, ignoreCase: true, out section) && Enum.IsDefined(section);
    }

    public static string Render(WaypointConfigDocument config, ConfigSection section)
    {
        ArgumentNullException.ThrowIfNull(config);
        var output = new StringBuilder();
        output.Append($"Waypoint {config.Namespace}/{config.Name}, xDS version {StatusRenderer.Short(config.Version)}\n");
        if (section is ConfigSection.All or ConfigSection.Listeners)
        {
            output.Append("\nLISTENERS\n");
            var table = new TextTable("NAME", "ADDRESS", "FILTER CHAINS");
            foreach (var l in config.Listeners)
            {
                table.Add(l.Name, l.Address, l.FilterChains.Count == 0 ? "-" : string.Join(", ", l.FilterChains));
            }

            table.WriteTo(output);
        }

        if (section is ConfigSection.All or ConfigSection.Routes)
        {
            output.Append("\nROUTES\n");
            var table = new TextTable("NAME", "DOMAINS", "ROUTES (in match order)");
            foreach (var r in config.Routes)
            {
                table.Add(r.Name, string.Join(",", r.Domains), r.Routes.Count == 0 ? "-" : string.Join(", ", r.Routes));
            }

            table.WriteTo(output);
        }

        if (section is ConfigSection.All or ConfigSection.Clusters)
        {
            output.Append("\nCLUSTERS\n");
            var table = new TextTable("NAME", "TYPE", "CONNECT TIMEOUT");
            foreach (var c in config.Clusters)
            {
                table.Add(c.Name, c.Type, Text.OrDash(c.ConnectTimeout));
            }

            table.WriteTo(output);
        }

        if (section is ConfigSection.All or ConfigSection.Endpoints)
        {
            output.Append("\nENDPOINTS\n");
            var table = new TextTable("CLUSTER", "ENDPOINTS");
            foreach (var e in config.Endpoints)
            {
                table.Add(e.Cluster, e.Endpoints.Count == 0 ? "-" : string.Join(", ", e.Endpoints));
            }

            table.WriteTo(output);
        }

        if (section is ConfigSection.All or ConfigSection.Secrets)
        {
            output.Append("\nSECRETS\n").Append(NoSecrets).Append('\n');
        }

        return output.ToString();
    }

    /// <summary>The full document, or one section of it (an array of Envoy resources), for structured output.</summary>
    public static JsonNode Select(JsonObject full, ConfigSection section)
    {
        ArgumentNullException.ThrowIfNull(full);
        return section switch
        {
            ConfigSection.All => full,
            ConfigSection.Secrets => new JsonArray(),
            _ => full[JsonNamingPolicyName(section)]?.DeepClone() ?? new JsonArray(),
        };
    }

    private static string JsonNamingPolicyName(ConfigSection section) => section switch
    {
        ConfigSection.Listeners => "listeners",
        ConfigSection.Routes => "routes",
        ConfigSection.Clusters => "clusters",
        _ => "endpoints",
    };
}
