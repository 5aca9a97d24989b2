using k8s.Models;
using Waypoint.Translator.Model;

namespace Waypoint.Controller.Reconciliation;

/// <summary>What the controller found while reconciling a waypoint Gateway, turned into status.</summary>
internal sealed record GatewayObservation(
    string? ParametersProblem,
    string? ProgrammingProblem,
    bool HasReadyPod,
    V1Service? Service,
    int AttachedRoutes);

/// <summary>Gateway status for a waypoint: Accepted/Programmed, per-listener status, and addresses once a pod is ready.</summary>
internal static class GatewayStatusCalculator
{
    public const string HboneProtocol = "HBONE";
    public static readonly RouteGroupKind HttpRouteKind = new() { Group = GatewayApi.Group, Kind = "HTTPRoute" };

    public static V1GatewayStatus Compute(V1Gateway gateway, GatewayObservation observation, string clusterDomain, DateTimeOffset now)
    {
        var generation = gateway.Metadata.Generation;
        var previous = gateway.Status ?? new V1GatewayStatus();
        var listeners = new List<ListenerStatus>();
        var problems = new List<string>();
        var validListeners = 0;
        foreach (var listener in gateway.Spec.Listeners ?? [])
        {
            var previousListener = previous.Listeners?.FirstOrDefault(l => l.Name == listener.Name);
            var (accepted, reason, message) = ValidateListener(listener);
            var invalidKinds = listener.AllowedRoutes?.Kinds?.Where(k => !(k.Kind == "HTTPRoute" && (k.Group ?? GatewayApi.Group) == GatewayApi.Group)).ToList() ?? [];
            if (accepted)
            {
                validListeners++;
            }
            else
            {
                problems.Add($"listener '{listener.Name}': {message}");
            }

            var resolved = invalidKinds.Count == 0;
            listeners.Add(new ListenerStatus
            {
                Name = listener.Name,
                SupportedKinds = [HttpRouteKind],
                AttachedRoutes = accepted ? observation.AttachedRoutes : 0,
                Conditions =
                [
                    Conditions.Make("Accepted", accepted, reason, message, generation, previousListener?.Conditions, now),
                    Conditions.Make("ResolvedRefs", resolved, resolved ? "ResolvedRefs" : "InvalidRouteKinds",
                        resolved ? "Route kinds resolved." : $"Only HTTPRoute is supported; not {string.Join(", ", invalidKinds.Select(k => k.Kind))}.", generation, previousListener?.Conditions, now),
                    Conditions.Make("Programmed", accepted, accepted ? "Programmed" : "Invalid", accepted ? "Listener programmed." : message, generation, previousListener?.Conditions, now),
                    Conditions.Make("Conflicted", false, "NoConflicts", "No conflicts.", generation, previousListener?.Conditions, now),
                ],
            });
        }

        bool gatewayAccepted;
        string acceptedReason, acceptedMessage;
        if (gateway.Spec.Addresses is { Count: > 0 })
        {
            (gatewayAccepted, acceptedReason, acceptedMessage) = (false, "UnsupportedAddress", "A waypoint gets its address from its Service; remove spec.addresses.");
        }
        else if (observation.ParametersProblem is { } parametersProblem)
        {
            (gatewayAccepted, acceptedReason, acceptedMessage) = (false, "InvalidParameters", parametersProblem);
        }
        else if (validListeners == 0)
        {
            (gatewayAccepted, acceptedReason, acceptedMessage) = (false, "ListenersNotValid",
                problems.Count == 0 ? "A waypoint needs the listener {name: mesh, port: 15008, protocol: HBONE}." : string.Join("; ", problems));
        }
        else
        {
            (gatewayAccepted, acceptedReason, acceptedMessage) = (true, "Accepted", problems.Count == 0 ? "Accepted by the waypoint controller." : "Accepted; " + string.Join("; ", problems));
        }

        // Addresses only once a pod is ready (istiod treats a Gateway with addresses as a usable waypoint, so
        // publishing them early black-holes traffic), and never removed afterwards.
        var addresses = previous.Addresses is { Count: > 0 } ? previous.Addresses : null;
        if (gatewayAccepted && observation.HasReadyPod && observation.Service is { } service)
        {
            var fresh = new List<GatewayStatusAddress>();
            if (service.Spec?.ClusterIP is { Length: > 0 } clusterIp && clusterIp != "None")
            {
                fresh.Add(new GatewayStatusAddress { Type = "IPAddress", Value = clusterIp });
            }

            fresh.Add(new GatewayStatusAddress { Type = "Hostname", Value = $"{service.Metadata.Name}.{service.Metadata.NamespaceProperty}.svc.{clusterDomain}" });
            addresses = fresh;
        }

        bool programmed;
        string programmedReason, programmedMessage;
        if (!gatewayAccepted)
        {
            (programmed, programmedReason, programmedMessage) = (false, "Invalid", acceptedMessage);
        }
        else if (observation.ProgrammingProblem is { } programmingProblem)
        {
            (programmed, programmedReason, programmedMessage) = (false, "Invalid", programmingProblem);
        }
        else if (addresses is null)
        {
            (programmed, programmedReason, programmedMessage) = (false, "Pending", "Waiting for a ready waypoint pod.");
        }
        else
        {
            (programmed, programmedReason, programmedMessage) = (true, "Programmed", "The waypoint is deployed and has an address.");
        }

        return new V1GatewayStatus
        {
            Addresses = addresses,
            Conditions =
            [
                Conditions.Make("Accepted", gatewayAccepted, acceptedReason, acceptedMessage, generation, previous.Conditions, now),
                Conditions.Make("Programmed", programmed, programmedReason, programmedMessage, generation, previous.Conditions, now),
            ],
            Listeners = listeners,
        };
    }

    public static bool HasValidListener(V1Gateway gateway) => gateway.Spec.Listeners?.Any(l => ValidateListener(l).Accepted) == true;

    private static (bool Accepted, string Reason, string Message) ValidateListener(GatewayListener listener)
    {
        if (!string.Equals(listener.Protocol, HboneProtocol, StringComparison.Ordinal))
        {
            return (false, "UnsupportedProtocol", $"protocol {listener.Protocol} is not supported; a waypoint listener is {{name: mesh, port: 15008, protocol: HBONE}}");
        }

        if (listener.Port != WaypointWorkload.MeshPort)
        {
            return (false, "PortUnavailable", $"port {listener.Port} is not supported; HBONE listens on 15008");
        }

        if (listener.Hostname is not null || listener.Tls is not null)
        {
            return (false, "UnsupportedValue", "hostname and tls are not supported on an HBONE listener");
        }

        return (true, "Accepted", "Listener accepted.");
    }
}
