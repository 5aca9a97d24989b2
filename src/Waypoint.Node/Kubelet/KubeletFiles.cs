using System.Globalization;
using System.Text;

namespace Waypoint.Node.Kubelet;

/// <summary>
/// The kubelet's two input files. The KubeletConfiguration is the one verified on this machine (cgroup v1 hybrid,
/// no cgroups per QoS, cgroupfs driver, webhook authn/authz, x509 client CA), plus the pod log directory under the
/// root; the kubeconfig names one cluster, one user (the client certificate) and a context joining them (a context
/// naming a missing user would send no credentials at all).
/// </summary>
internal static class KubeletFiles
{
    public static string Configuration(KubeletOptions options)
    {
        var endpoint = Quote(options.RuntimeEndpoint);
        return string.Create(CultureInfo.InvariantCulture, $"""
            apiVersion: kubelet.config.k8s.io/v1beta1
            kind: KubeletConfiguration
            address: {options.NodeAddress}
            port: {options.Port}
            readOnlyPort: 0
            healthzBindAddress: 127.0.0.1
            healthzPort: {options.HealthzPort}
            authentication:
              anonymous: {"{"}enabled: false{"}"}
              webhook: {"{"}enabled: true{"}"}
              x509: {"{"}clientCAFile: {Quote(options.CaCertificatePath)}{"}"}
            authorization: {"{"}mode: Webhook{"}"}
            tlsCertFile: {Quote(options.ServingCertificatePath)}
            tlsPrivateKeyFile: {Quote(options.ServingKeyPath)}
            cgroupDriver: cgroupfs
            cgroupsPerQOS: false
            enforceNodeAllocatable: []
            failSwapOn: false
            failCgroupV1: false
            containerRuntimeEndpoint: {endpoint}
            imageServiceEndpoint: {endpoint}
            podLogsDir: {Quote(Path.Combine(options.RootDirectory, "pod-logs"))}
            resolvConf: ""
            clusterDomain: {options.ClusterDomain}
            clusterDNS: [{options.ClusterDns}]
            localStorageCapacityIsolation: false

            """);
    }

    public static string Kubeconfig(KubeletOptions options) => new StringBuilder()
        .Append("apiVersion: v1\nkind: Config\n")
        .Append("clusters: [{name: box, cluster: {server: ").Append(Quote(options.ApiServer.ToString().TrimEnd('/'))).Append(", certificate-authority: ").Append(Quote(options.CaCertificatePath)).Append("}}]\n")
        .Append("users: [{name: kubelet, user: {client-certificate: ").Append(Quote(options.ClientCertificatePath)).Append(", client-key: ").Append(Quote(options.ClientKeyPath)).Append("}}]\n")
        .Append("contexts: [{name: box, context: {cluster: box, user: kubelet}}]\n")
        .Append("current-context: box\n")
        .ToString();

    public static IReadOnlyList<string> Arguments(KubeletOptions options, string configPath, string kubeconfigPath) =>
    [
        $"--config={configPath}",
        $"--kubeconfig={kubeconfigPath}",
        $"--hostname-override={options.NodeName}",
        $"--node-ip={options.NodeAddress}",
        $"--root-dir={options.RootDirectory}",
        string.Create(CultureInfo.InvariantCulture, $"--v={options.Verbosity}"),
    ];

    /// <summary>A YAML double-quoted scalar.</summary>
    private static string Quote(string value) => "\"" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";
}
