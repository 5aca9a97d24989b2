using System.Text;
using Waypoint.Controller.Diagnostics;

namespace Waypoint.Cli.Rendering;

/// <summary><c>waypoint describe service</c> as text.</summary>
public static class ServiceRenderer
{
    public static string Render(ServiceDescription service)
    {
        ArgumentNullException.ThrowIfNull(service);
        var output = new StringBuilder();
        output.Append($"Service {service.Namespace}/{service.Name}\n");
        output.Append($"  istio.io/use-waypoint:   {Text.OrDash(service.UseWaypoint)}\n");
        output.Append($"  Waypoint:                {service.Waypoint ?? "(none of this controller's waypoints serves it)"}\n");
        output.Append($"  istio.io/WaypointBound:  {Text.Condition(service.WaypointBound)}{(service.WaypointBound?.Message is { } m ? $": {Text.OneLine(m)}" : "")}\n");
        if (service.Waypoint is null)
        {
            return output.ToString();
        }

        output.Append("\nRoutes, in the order Envoy matches them (per port):\n");
        if (service.Routes.Count == 0)
        {
            output.Append("  (no HTTP port: TCP only)\n");
        }

        foreach (var config in service.Routes)
        {
            output.Append($"  {config.Name}\n");
            for (var i = 0; i < config.Routes.Count; i++)
            {
                output.Append($"    {i + 1}. {Text.OrDash(config.Routes[i])}\n");
            }
        }

        Section(output, "HTTPRoutes", service.HttpRoutes, numbered: false);
        Section(output, "AuthorizationPolicies, in evaluation order (CUSTOM, then DENY, then ALLOW)", service.AuthorizationPolicies, numbered: true);
        Section(output, "TrafficPolicies", service.TrafficPolicies, numbered: false);
        return output.ToString();
    }

    private static void Section(StringBuilder output, string title, IReadOnlyList<AttachedObjectInfo> attached, bool numbered)
    {
        output.Append($"\n{title}:\n");
        if (attached.Count == 0)
        {
            output.Append("  (none)\n");
            return;
        }

        var table = numbered ? new TextTable("#", "ACTION", "NAME", "VIA", "CONDITIONS") : new TextTable("NAME", "VIA", "CONDITIONS");
        for (var i = 0; i < attached.Count; i++)
        {
            var a = attached[i];
            if (numbered)
            {
                table.Add((i + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), Text.OrDash(a.Action), $"{a.Namespace}/{a.Name}", a.Parent, Text.Conditions(a.Conditions));
            }
            else
            {
                table.Add($"{a.Namespace}/{a.Name}", a.Parent, Text.Conditions(a.Conditions));
            }
        }

        table.WriteTo(output, "  ");
    }
}
