using System.Net;
using System.Text.Json;
using Waypoint.Node.Containers;
using Waypoint.Node.Kubelet;

namespace Waypoint.Node.Tests;

public sealed class KubeletFilesTests
{
    private static readonly KubeletOptions Options = new()
    {
        KubeletPath = "/k8s/kubelet",
        ApiServer = new Uri("https://127.0.0.1:6443"),
        CaCertificatePath = "/pki/ca.crt",
        ClientCertificatePath = "/pki/kubelet-client.crt",
        ClientKeyPath = "/pki/kubelet-client.key",
        ServingCertificatePath = "/pki/kubelet.crt",
        ServingKeyPath = "/pki/kubelet.key",
        NodeName = "box-node",
        NodeAddress = IPAddress.Parse("10.244.0.2"),
        RootDirectory = "/box/node/kubelet",
        RuntimeEndpoint = "unix:///box/node/cri.sock",
    };

    [Fact]
    public void The_Configuration_Is_The_Verified_One_Pointed_At_Our_Runtime()
    {
        var config = KubeletFiles.Configuration(Options);

        Assert.Contains("kind: KubeletConfiguration\n", config, StringComparison.Ordinal);
        Assert.Contains("address: 10.244.0.2\n", config, StringComparison.Ordinal);
        Assert.Contains("containerRuntimeEndpoint: \"unix:///box/node/cri.sock\"\n", config, StringComparison.Ordinal);
        Assert.Contains("imageServiceEndpoint: \"unix:///box/node/cri.sock\"\n", config, StringComparison.Ordinal);
        Assert.Contains("x509: {clientCAFile: \"/pki/ca.crt\"}", config, StringComparison.Ordinal);
        Assert.Contains("tlsCertFile: \"/pki/kubelet.crt\"\n", config, StringComparison.Ordinal);
        Assert.Contains("cgroupDriver: cgroupfs\n", config, StringComparison.Ordinal);
        Assert.Contains("failCgroupV1: false\n", config, StringComparison.Ordinal);
        Assert.Contains("cgroupsPerQOS: false\n", config, StringComparison.Ordinal);
        Assert.Contains("clusterDNS: [10.96.0.10]\n", config, StringComparison.Ordinal);
        Assert.Contains("podLogsDir: \"/box/node/kubelet/pod-logs\"\n", config, StringComparison.Ordinal);
    }

    [Fact]
    public void The_Kubeconfig_Context_Names_The_User_That_Carries_The_Client_Certificate()
    {
        var kubeconfig = KubeletFiles.Kubeconfig(Options);

        Assert.Contains("users: [{name: kubelet, user: {client-certificate: \"/pki/kubelet-client.crt\", client-key: \"/pki/kubelet-client.key\"}}]", kubeconfig, StringComparison.Ordinal);
        Assert.Contains("contexts: [{name: box, context: {cluster: box, user: kubelet}}]", kubeconfig, StringComparison.Ordinal);
        Assert.Contains("server: \"https://127.0.0.1:6443\"", kubeconfig, StringComparison.Ordinal);
        Assert.Contains("current-context: box", kubeconfig, StringComparison.Ordinal);
    }

    [Fact]
    public void The_Arguments_Name_Node_Ip_And_Root()
    {
        Assert.Equal(
            ["--config=/c.yaml", "--kubeconfig=/k", "--hostname-override=box-node", "--node-ip=10.244.0.2", "--root-dir=/box/node/kubelet", "--v=1"],
            KubeletFiles.Arguments(Options, "/c.yaml", "/k"));
    }

    [Theory]
    [InlineData("""{"status":{"conditions":[{"type":"MemoryPressure","status":"False"},{"type":"Ready","status":"True"}]}}""", true)]
    [InlineData("""{"status":{"conditions":[{"type":"Ready","status":"False"}]}}""", false)]
    [InlineData("""{"status":{}}""", false)]
    public void Node_Readiness_Is_The_Ready_Condition(string node, bool ready)
    {
        using var document = JsonDocument.Parse(node);

        Assert.Equal(ready, KubeletProcess.IsReady(document));
    }

    [Fact]
    public void A_Cri_Log_Record_Has_Nanosecond_Time_Stream_And_Full_Line_Tag()
    {
        var record = CriLogWriter.Format(new DateTimeOffset(2026, 12, 1, 21, 0, 0, TimeSpan.Zero).AddTicks(1234567), "stderr", "boom");

        Assert.Equal("2026-12-01T21:00:00.123456700Z stderr F boom\n", record);
    }
}
