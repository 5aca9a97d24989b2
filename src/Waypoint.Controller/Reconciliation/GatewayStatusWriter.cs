using k8s.Models;
using Waypoint.Translator;
using Waypoint.Translator.Model;

namespace Waypoint.Controller.Reconciliation;

/// <summary>What only the controller can know about a waypoint Gateway: its workload, its readiness, Envoy's verdict.</summary>
/// <param name="IsWaypoint">The translator made the Gateway a waypoint (it has resources).</param>
/// <param name="ProgrammingProblem">Why its objects could not be applied (e.g. a name taken by someone else).</param>
/// <param name="EnvoyRejection">Envoy's message when it rejected configuration that only the Gateway accounts for.</param>
/// <param name="HasReadyPod">A waypoint pod is Ready.</param>
/// <param name="Service">The waypoint's Service, for its addresses.</param>
internal sealed record GatewayObservation(bool IsWaypoint, string? ProgrammingProblem, string? EnvoyRejection, bool HasReadyPod, V1Service? Service);

/// <summary>
/// A Gateway's status: the translator's conditions and listeners as they are (it alone judges Gateway semantics),
/// plus the controller's <c>Programmed</c> (Gateway and listeners) and <c>status.addresses</c>.
/// </summary>
internal static class GatewayStatusWriter
{
    public static V1GatewayStatus Compose(V1Gateway gateway, GatewayStatusResult computed, GatewayObservation observation, string clusterDomain, DateTimeOffset now)
    {
        var generation = gateway.Metadata.Generation;
        var previous = gateway.Status ?? new V1GatewayStatus();

        // Addresses only once a pod is ready (istiod treats a Gateway with addresses as a usable waypoint, so
        // publishing them early black-holes traffic), and never removed afterwards.
        var addresses = previous.Addresses is { Count: > 0 } ? previous.Addresses : null;
        if (observation.IsWaypoint && observation.HasReadyPod && observation.Service is { } service)
        {
            var fresh = new List<GatewayStatusAddress>();
            if (service.Spec?.ClusterIP is { Length: > 0 } clusterIp && clusterIp != "None")
            {
                fresh.Add(new GatewayStatusAddress { Type = "IPAddress", Value = clusterIp });
            }

            fresh.Add(new GatewayStatusAddress { Type = "Hostname", Value = $"{service.Metadata.Name}.{service.Metadata.NamespaceProperty}.svc.{clusterDomain}" });
            addresses = fresh;
        }

        var (programmed, reason, message) =
            !observation.IsWaypoint ? (false, "Invalid", computed.Conditions.FirstOrDefault(c => c.Type == "Accepted")?.Message ?? "Not a waypoint.")
            : observation.ProgrammingProblem is { } problem ? (false, "Invalid", problem)
            : observation.EnvoyRejection is { } rejection ? (false, "Invalid", "Envoy rejected the waypoint's configuration: " + Truncate(rejection))
            : addresses is null ? (false, "Pending", "Waiting for a ready waypoint pod.")
            : (true, "Programmed", "The waypoint is deployed and has an address.");

        var conditions = computed.Conditions.Select(c => Stamp(c, previous.Conditions, now)).ToList();
        conditions.Add(Conditions.Make("Programmed", programmed, reason, message, generation, previous.Conditions, now));
        var listeners = new List<ListenerStatus>(computed.Listeners.Count);
        foreach (var listener in computed.Listeners)
        {
            var old = previous.Listeners?.FirstOrDefault(l => l.Name == listener.Name)?.Conditions;
            var listenerConditions = listener.Conditions.Select(c => Stamp(c, old, now)).ToList();
            var accepted = listener.Conditions.Any(c => c.Type == "Accepted" && c.Status == Conditions.True);
            listenerConditions.Add(accepted
                ? Conditions.Make("Programmed", programmed, reason, message, generation, old, now)
                : Conditions.Make("Programmed", false, "Invalid", "The listener is not accepted.", generation, old, now));
            listeners.Add(listener with { Conditions = listenerConditions });
        }

        return new V1GatewayStatus { Addresses = addresses, Conditions = conditions, Listeners = listeners };
    }

    /// <summary>The translator's condition with a lastTransitionTime that moves only when its status flips.</summary>
    public static V1Condition Stamp(V1Condition condition, IList<V1Condition>? previous, DateTimeOffset now) =>
        Conditions.Make(condition.Type, condition.Status == Conditions.True, condition.Reason, condition.Message, condition.ObservedGeneration, previous, now);

    private static string Truncate(string message) => message.Length <= 4096 ? message : message[..4093] + "...";
}
