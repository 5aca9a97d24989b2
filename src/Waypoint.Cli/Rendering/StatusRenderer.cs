using System.Text;
using Waypoint.Controller.Diagnostics;

namespace Waypoint.Cli.Rendering;

/// <summary><c>waypoint status</c> as text: a summary table, then each waypoint in detail.</summary>
public static class StatusRenderer
{
    private static readonly string[] s_types = ["lds", "rds", "cds", "eds"];

    public static string Render(WaypointListDocument document, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(document);
        var output = new StringBuilder();
        if (document.Waypoints.Count == 0)
        {
            return "No waypoints.\n";
        }

        var summary = new TextTable("NAMESPACE", "NAME", "READY", "ADDRESS", "SERVICES", "ROUTES", "POLICIES", "ENVOYS", "NACKS", "CERTIFICATE");
        foreach (var w in document.Waypoints)
        {
            var earliest = w.Envoys.Select(e => e.CertificateNotAfter).Where(t => t is not null).Min();
            summary.Add(w.Namespace, w.Name, w.Ready ? "True" : "False", w.Addresses.Count > 0 ? w.Addresses[0] : "-",
                w.Services.Count.ToString(System.Globalization.CultureInfo.InvariantCulture),
                w.Routes.Select(r => (r.Namespace, r.Name)).Distinct().Count().ToString(System.Globalization.CultureInfo.InvariantCulture),
                w.Policies.Select(p => (p.Kind, p.Namespace, p.Name)).Distinct().Count().ToString(System.Globalization.CultureInfo.InvariantCulture),
                w.Envoys.Count.ToString(System.Globalization.CultureInfo.InvariantCulture),
                w.Nacks.Count.ToString(System.Globalization.CultureInfo.InvariantCulture),
                Text.Expiry(earliest, now));
        }

        summary.WriteTo(output);
        foreach (var w in document.Waypoints)
        {
            output.Append('\n');
            Detail(output, w, now);
        }

        return output.ToString();
    }

    private static void Detail(StringBuilder output, WaypointDebugInfo w, DateTimeOffset now)
    {
        output.Append($"Waypoint {w.Namespace}/{w.Name}\n");
        output.Append($"  Addresses:  {(w.Addresses.Count == 0 ? "-" : string.Join(", ", w.Addresses))}\n");
        output.Append($"  xDS version: {Text.OrDash(w.ResourceVersion)}\n");
        output.Append("  Conditions:\n");
        var conditions = new TextTable("TYPE", "STATUS", "REASON", "MESSAGE");
        foreach (var c in w.Conditions)
        {
            conditions.Add(c.Type, c.Status, Text.OrDash(c.Reason), Text.OneLine(Text.OrDash(c.Message)));
        }

        conditions.WriteTo(output, "    ");
        output.Append("  Services:\n");
        if (w.Services.Count == 0)
        {
            output.Append("    (none bound)\n");
        }
        else
        {
            var services = new TextTable("SERVICE", "ISTIO.IO/WAYPOINTBOUND", "MESSAGE");
            foreach (var s in w.Services)
            {
                services.Add(s.Name, Text.Condition(s.WaypointBound), Text.OneLine(Text.OrDash(s.WaypointBound?.Message)));
            }

            services.WriteTo(output, "    ");
        }

        Attached(output, "Routes", w.Routes);
        Attached(output, "Policies", w.Policies);
        output.Append("  Envoys:\n");
        if (w.Envoys.Count == 0)
        {
            output.Append("    (none connected)\n");
        }
        else
        {
            var envoys = new TextTable("NODE", "STREAM", "CONNECTED", "ACKED (lds rds cds eds)", "CERTIFICATE EXPIRES");
            foreach (var e in w.Envoys)
            {
                var acked = string.Join(" ", s_types.Select(t => e.Acked.TryGetValue(t, out var v) && v is not null ? Short(v) : "-"));
                envoys.Add(e.NodeId, e.Protocol, Text.Time(e.ConnectedAt), acked,
                    e.CertificateNotAfter is { } notAfter ? $"{Text.Time(notAfter)} ({Text.Expiry(notAfter, now)})" : "- (plaintext xDS)");
            }

            envoys.WriteTo(output, "    ");
        }

        output.Append("  Recent NACKs:\n");
        if (w.Nacks.Count == 0)
        {
            output.Append("    (none)\n");
        }
        else
        {
            var nacks = new TextTable("TIME", "NODE", "TYPE", "VERSION", "ENVOY'S MESSAGE");
            foreach (var n in w.Nacks)
            {
                nacks.Add(Text.Time(n.Time), n.NodeId, n.Type, Short(n.Version), Text.OneLine(n.Message));
            }

            nacks.WriteTo(output, "    ");
        }
    }

    private static void Attached(StringBuilder output, string title, IReadOnlyList<AttachedObjectInfo> attached)
    {
        output.Append($"  {title}:\n");
        if (attached.Count == 0)
        {
            output.Append("    (none)\n");
            return;
        }

        var table = new TextTable("KIND", "NAME", "ACTION", "VIA", "CONDITIONS");
        foreach (var a in attached)
        {
            table.Add(a.Kind, $"{a.Namespace}/{a.Name}", Text.OrDash(a.Action), a.Parent, Text.Conditions(a.Conditions));
        }

        table.WriteTo(output, "    ");
    }

    /// <summary>Versions are content hashes; 12 characters identify one as well as kubectl's short hashes do.</summary>
    internal static string Short(string version) => version.Length > 12 ? version[..12] : version;
}
