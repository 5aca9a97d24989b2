using System.Globalization;
using k8s.Models;
using Waypoint.Translator.Model;

namespace Waypoint.Translator.Internal;

/// <summary>Finds the ready endpoints of a service port, and the objects they came from.</summary>
internal static class EndpointResolver
{
    /// <summary>The objects the endpoints of a service port depend on (cheap: no endpoint is built).</summary>
    public static List<object?> Inputs(ServiceModel service, ServicePortModel port, SnapshotIndex index)
    {
        var inputs = new List<object?>(12) { service.Source, port.Port, port.Name, port.TargetPort?.Value, index.Namespace(service.Namespace) };
        if (service.Source is V1Service)
        {
            foreach (var slice in index.SlicesOf(service.Namespace, service.Name))
            {
                inputs.Add(slice);
                foreach (var endpoint in slice.Endpoints ?? [])
                {
                    if (endpoint.TargetRef is { Kind: "Pod" } target)
                    {
                        inputs.Add(index.Pod(target.NamespaceProperty ?? service.Namespace, target.Name));
                    }
                }
            }
        }
        else if (service.Source is V1ServiceEntry entry && entry.Spec.WorkloadSelector?.Labels is { Count: > 0 })
        {
            inputs.AddRange(index.PodsIn(service.Namespace));
        }

        return inputs;
    }

    public static List<EndpointModel> Resolve(ServiceModel service, ServicePortModel port, SnapshotIndex index, TranslatorOptions options)
    {
        var endpoints = new List<EndpointModel>();
        var ns = index.Namespace(service.Namespace);

        if (service.Source is V1Service)
        {
            foreach (var slice in index.SlicesOf(service.Namespace, service.Name))
            {
                var slicePort = FindPort(slice, port.Name);
                if (slicePort?.Port is not int targetPort || slicePort.Protocol is "UDP" or "SCTP")
                {
                    continue;
                }

                foreach (var endpoint in slice.Endpoints ?? [])
                {
                    if (endpoint.Conditions?.Ready == false || endpoint.Addresses is not { Count: > 0 })
                    {
                        continue;
                    }

                    V1Pod? pod = null;
                    if (endpoint.TargetRef is { Kind: "Pod" } target)
                    {
                        pod = index.Pod(target.NamespaceProperty ?? service.Namespace, target.Name);
                    }

                    endpoints.Add(new EndpointModel(endpoint.Addresses[0], targetPort, IsHbone(pod, ns), Workload(pod, options)));
                }
            }
        }
        else if (service.Source is V1ServiceEntry entry)
        {
            var defaultPort = port.TargetPort?.ToInt() ?? port.Port;
            foreach (var endpoint in entry.Spec.Endpoints ?? [])
            {
                if (string.IsNullOrEmpty(endpoint.Address) || !ServiceModel.IsIp(endpoint.Address))
                {
                    continue;
                }

                var target = endpoint.Ports is not null && port.Name is not null && endpoint.Ports.TryGetValue(port.Name, out var p) ? p : defaultPort;
                endpoints.Add(new EndpointModel(endpoint.Address, target, Hbone: false, Workload: null));
            }

            if (entry.Spec.WorkloadSelector?.Labels is { Count: > 0 } selector)
            {
                foreach (var pod in index.PodsIn(service.Namespace))
                {
                    if (string.IsNullOrEmpty(pod.Status?.PodIP) || !selector.All(l => LabelSelectors.Get(pod.Metadata.Labels, l.Key) == l.Value))
                    {
                        continue;
                    }

                    endpoints.Add(new EndpointModel(pod.Status.PodIP, defaultPort, IsHbone(pod, ns), Workload(pod, options)));
                }
            }
        }

        if (endpoints.Count > 1)
        {
            // One address may appear in two slices: the first occurrence wins. Unique addresses make the sort total.
            var seen = new HashSet<(string, int)>(endpoints.Count);
            endpoints.RemoveAll(e => !seen.Add((e.Ip, e.Port)));
            endpoints.Sort(static (a, b) =>
            {
                var byIp = string.CompareOrdinal(a.Ip, b.Ip);
                return byIp != 0 ? byIp : a.Port.CompareTo(b.Port);
            });
        }

        return endpoints;
    }

    private static Discoveryv1EndpointPort? FindPort(V1EndpointSlice slice, string? name)
    {
        foreach (var port in slice.Ports ?? [])
        {
            if ((port.Name ?? "") == (name ?? ""))
            {
                return port;
            }
        }

        return null;
    }

    /// <summary>Ambient pods speak HBONE: the pod's dataplane-mode label, else its namespace's.</summary>
    private static bool IsHbone(V1Pod? pod, V1Namespace? ns)
    {
        var podMode = LabelSelectors.Get(pod?.Metadata.Labels, WellKnown.DataplaneModeLabel);
        if (podMode is not null)
        {
            return podMode == "ambient";
        }

        return LabelSelectors.Get(ns?.Metadata.Labels, WellKnown.DataplaneModeLabel) == "ambient";
    }

    /// <summary>
    /// Istio's <c>istio.workload</c> endpoint metadata: workload name;namespace;canonical name;canonical revision;cluster.
    /// The request metrics report the first two as <c>destination_workload</c> and <c>destination_workload_namespace</c>.
    /// </summary>
    private static string? Workload(V1Pod? pod, TranslatorOptions options)
    {
        if (pod is null)
        {
            return null;
        }

        var labels = pod.Metadata.Labels;
        var workload = WorkloadName(pod);
        var name = LabelSelectors.Get(labels, "service.istio.io/canonical-name")
            ?? LabelSelectors.Get(labels, "app.kubernetes.io/name")
            ?? LabelSelectors.Get(labels, "app")
            ?? workload;
        var revision = LabelSelectors.Get(labels, "service.istio.io/canonical-revision")
            ?? LabelSelectors.Get(labels, "app.kubernetes.io/version")
            ?? LabelSelectors.Get(labels, "version")
            ?? "latest";
        return string.Create(CultureInfo.InvariantCulture, $"{workload};{pod.Metadata.NamespaceProperty};{name};{revision};{options.ClusterId}");
    }

    /// <summary>
    /// The pod's workload as Istio names it (its <c>GetDeployMetaFromPod</c>): a ReplicaSet's pod belongs to the Deployment
    /// (the ReplicaSet's name without the <c>pod-template-hash</c>), a Job's scheduled by a CronJob to the CronJob
    /// (the Job's name without its <c>-&lt;timestamp&gt;</c>), any other controller's pod to that controller; a bare pod
    /// is its own workload.
    /// </summary>
    internal static string WorkloadName(V1Pod pod)
    {
        var owner = pod.Metadata.OwnerReferences?.FirstOrDefault(o => o.Controller == true);
        if (owner is null || string.IsNullOrEmpty(owner.Name))
        {
            return pod.Metadata.Name;
        }

        if (owner.Kind == "ReplicaSet"
            && LabelSelectors.Get(pod.Metadata.Labels, "pod-template-hash") is { Length: > 0 } hash
            && owner.Name.EndsWith("-" + hash, StringComparison.Ordinal))
        {
            return owner.Name[..^(hash.Length + 1)];
        }

        if (owner.Kind == "Job" && CronJobSuffix(owner.Name) is { } cut)
        {
            return owner.Name[..cut];
        }

        return owner.Name;
    }

    /// <summary>Where a CronJob's Job name loses its scheduled-time suffix (<c>-</c> and 8 to 10 digits), or null.</summary>
    private static int? CronJobSuffix(string job)
    {
        var dash = job.LastIndexOf('-');
        var digits = job.Length - dash - 1;
        return dash > 0 && digits is >= 8 and <= 10 && !job.AsSpan(dash + 1).ContainsAnyExceptInRange('0', '9') ? dash : null;
    }
}
