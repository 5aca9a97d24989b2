using k8s.Models;
using Waypoint.Controller.Client;
using Waypoint.Translator.Model;

namespace Waypoint.Controller.Reconciliation;

/// <summary>
/// HTTPRoute status.parents entries this controller owns: parents that are Services (or ServiceEntries) bound to one
/// of our waypoints through istio.io/use-waypoint, or our waypoint Gateways themselves. Entries of other controllers are kept.
/// </summary>
internal static class RouteStatusCalculator
{
    public static List<RouteParentStatus> ComputeOurs(V1HTTPRoute route, ClusterState state, WaypointControllerOptions options, DateTimeOffset now)
    {
        var result = new List<RouteParentStatus>();
        var routeNamespace = route.Metadata.NamespaceProperty ?? "";
        var generation = route.Metadata.Generation;
        var previous = route.Status?.Parents ?? [];
        (bool Resolved, string Reason, string Message)? refs = null;
        foreach (var parent in route.Spec.ParentRefs ?? [])
        {
            var group = parent.Group ?? GatewayApi.Group;
            var kind = parent.Kind ?? "Gateway";
            var parentNamespace = parent.Namespace ?? routeNamespace;
            V1Gateway? waypoint = null;
            if (kind == "Service" && group is "" or "core")
            {
                if (!state.Services.TryGet(new NamespacedName(parentNamespace, parent.Name), out var service)
                    || state.WaypointOf(service) is not { } bound
                    || !state.Gateways.TryGet(bound, out var gateway) || !state.IsOurs(gateway))
                {
                    continue;
                }

                waypoint = gateway;
            }
            else if (kind == "Gateway" && group == GatewayApi.Group)
            {
                if (!state.Gateways.TryGet(new NamespacedName(parentNamespace, parent.Name), out var gateway) || !state.IsOurs(gateway))
                {
                    continue;
                }

                waypoint = gateway;
            }
            else
            {
                continue;
            }

            var old = previous.FirstOrDefault(p => p.ControllerName == options.ControllerName && Same(p.ParentRef, parent))?.Conditions;
            var allowed = AllowedFrom(waypoint, routeNamespace, state);
            refs ??= ResolveBackends(route, state);
            result.Add(new RouteParentStatus
            {
                ParentRef = Copy(parent),
                ControllerName = options.ControllerName,
                Conditions =
                [
                    allowed
                        ? Conditions.Make("Accepted", true, "Accepted", "Route accepted by the waypoint.", generation, old, now)
                        : Conditions.Make("Accepted", false, "NotAllowedByListeners", $"Waypoint {waypoint.Metadata.NamespaceProperty}/{waypoint.Metadata.Name} does not allow routes from namespace {routeNamespace}.", generation, old, now),
                    Conditions.Make("ResolvedRefs", refs.Value.Resolved, refs.Value.Reason, refs.Value.Message, generation, old, now),
                ],
            });
        }

        return result;
    }

    /// <summary>Our entries replace our previous ones; other controllers' entries stay as they were, in order.</summary>
    public static V1RouteStatus Merge(V1RouteStatus? current, List<RouteParentStatus> ours, string controllerName)
    {
        var parents = (current?.Parents ?? []).Where(p => p.ControllerName != controllerName).ToList();
        parents.AddRange(ours);
        return new V1RouteStatus { Parents = parents };
    }

    private static bool AllowedFrom(V1Gateway waypoint, string routeNamespace, ClusterState state)
    {
        var listener = waypoint.Spec.Listeners?.FirstOrDefault(l => l.Protocol == GatewayStatusCalculator.HboneProtocol);
        var from = listener?.AllowedRoutes?.Namespaces?.From ?? "Same";
        return from switch
        {
            "All" => true,
            "Same" => waypoint.Metadata.NamespaceProperty == routeNamespace,
            "Selector" => state.Namespaces.TryGet(new NamespacedName("", routeNamespace), out var ns)
                && Matches(listener!.AllowedRoutes!.Namespaces!.Selector, ns.Metadata.Labels),
            _ => false,
        };
    }

    private static bool Matches(V1LabelSelector? selector, IDictionary<string, string>? labels)
    {
        if (selector is null)
        {
            return true;
        }

        labels ??= new Dictionary<string, string>();
        foreach (var (key, value) in selector.MatchLabels ?? new Dictionary<string, string>())
        {
            if (!labels.TryGetValue(key, out var actual) || actual != value)
            {
                return false;
            }
        }

        foreach (var expression in selector.MatchExpressions ?? [])
        {
            var has = labels.TryGetValue(expression.Key, out var actual);
            var ok = expression.OperatorProperty switch
            {
                "In" => has && expression.Values?.Contains(actual!) == true,
                "NotIn" => !has || expression.Values?.Contains(actual!) != true,
                "Exists" => has,
                "DoesNotExist" => !has,
                _ => false,
            };
            if (!ok)
            {
                return false;
            }
        }

        return true;
    }

    private static (bool Resolved, string Reason, string Message) ResolveBackends(V1HTTPRoute route, ClusterState state)
    {
        var routeNamespace = route.Metadata.NamespaceProperty ?? "";
        foreach (var rule in route.Spec.Rules ?? [])
        {
            foreach (var backend in rule.BackendRefs ?? [])
            {
                var group = backend.Group ?? "";
                var kind = backend.Kind ?? "Service";
                var ns = backend.Namespace ?? routeNamespace;
                if (!(group is "" or "core" && kind == "Service") && !(group == "networking.istio.io" && kind is "Hostname" or "ServiceEntry"))
                {
                    return (false, "InvalidKind", $"backendRef {group}/{kind} {backend.Name} is not supported; use a Service.");
                }

                if (ns != routeNamespace && !Granted(state, routeNamespace, ns, group, kind, backend.Name))
                {
                    return (false, "RefNotPermitted", $"backendRef {ns}/{backend.Name} is in another namespace and no ReferenceGrant there allows it.");
                }

                if (kind == "Service" && !state.Services.TryGet(new NamespacedName(ns, backend.Name), out _))
                {
                    return (false, "BackendNotFound", $"Service {ns}/{backend.Name} not found.");
                }

                if (kind == "ServiceEntry" && !state.ServiceEntries.TryGet(new NamespacedName(ns, backend.Name), out _))
                {
                    return (false, "BackendNotFound", $"ServiceEntry {ns}/{backend.Name} not found.");
                }
            }
        }

        return (true, "ResolvedRefs", "All references resolved.");
    }

    private static bool Granted(ClusterState state, string fromNamespace, string toNamespace, string toGroup, string toKind, string toName) =>
        state.ReferenceGrants.Items.Any(grant => grant.Metadata.NamespaceProperty == toNamespace
            && grant.Spec.From.Any(f => f.Group == GatewayApi.Group && f.Kind == "HTTPRoute" && f.Namespace == fromNamespace)
            && grant.Spec.To.Any(t => t.Group == (toGroup == "core" ? "" : toGroup) && t.Kind == toKind && (t.Name is null || t.Name == toName)));

    private static bool Same(ParentReference a, ParentReference b) =>
        a.Name == b.Name && a.Namespace == b.Namespace && a.Kind == b.Kind && a.Group == b.Group && a.SectionName == b.SectionName && a.Port == b.Port;

    private static ParentReference Copy(ParentReference p) => new()
    {
        Group = p.Group,
        Kind = p.Kind,
        Namespace = p.Namespace,
        Name = p.Name,
        SectionName = p.SectionName,
        Port = p.Port,
    };
}
