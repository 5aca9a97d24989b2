namespace Waypoint.Box.Services;

/// <summary>The Services the box itself backs: cluster DNS and istiod (a box process, not a pod).</summary>
public static class BoxServiceManifests
{
    public const string KubeDnsKey = "kube-system/kube-dns";

    /// <summary>
    /// The DNS Service with the kubelet's <c>clusterDNS</c> address, so the ClusterIP is reserved. No selector, no
    /// EndpointSlice: the box's DNS server listens on the VIP itself, and the proxy skips it (<see cref="KubeDnsKey"/>).
    /// </summary>
    public const string KubeDns = """
        apiVersion: v1
        kind: Service
        metadata:
          name: kube-dns
          namespace: kube-system
          labels:
            k8s-app: kube-dns
            kubernetes.io/name: CoreDNS
        spec:
          clusterIP: 10.96.0.10
          ports:
          - {name: dns, port: 53, protocol: UDP, targetPort: 53}
          - {name: dns-tcp, port: 53, protocol: TCP, targetPort: 53}
        """;

    /// <summary>
    /// istiod's Service (the ports of Istio's chart) and an EndpointSlice the box manages by hand, pointing at the node
    /// IP where the istiod process listens. The endpointslice controller leaves it alone (another manager, no selector).
    /// </summary>
    public const string Istiod = """
        apiVersion: v1
        kind: Service
        metadata:
          name: istiod
          namespace: istio-system
          labels:
            app: istiod
            istio: pilot
        spec:
          ports:
          - {name: grpc-xds, port: 15010, protocol: TCP, targetPort: 15010}
          - {name: https-dns, port: 15012, protocol: TCP, targetPort: 15012}
          - {name: https-webhook, port: 443, protocol: TCP, targetPort: 15017}
          - {name: http-monitoring, port: 15014, protocol: TCP, targetPort: 15014}
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata:
          name: istiod-box
          namespace: istio-system
          labels:
            kubernetes.io/service-name: istiod
            endpointslice.kubernetes.io/managed-by: waypoint.dev-box
        addressType: IPv4
        ports:
        - {name: grpc-xds, port: 15010, protocol: TCP}
        - {name: https-dns, port: 15012, protocol: TCP}
        - {name: https-webhook, port: 15017, protocol: TCP}
        - {name: http-monitoring, port: 15014, protocol: TCP}
        endpoints:
        - addresses: [10.244.0.2]
          conditions: {ready: true}
        """;
}
