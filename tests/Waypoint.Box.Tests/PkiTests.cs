using System.Net;
using System.Security.Cryptography.X509Certificates;
using k8s;
using Waypoint.Box.Pki;

namespace Waypoint.Box.Tests;

public sealed class PkiTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("waypoint-box-pki-");

    [Fact]
    public void A_client_certificate_carries_its_user_and_groups_and_chains_to_the_CA()
    {
        using var pki = BoxPki.Create(Path.Combine(_directory.FullName, "pki"));
        var issued = pki.IssueClientCertificate("kubelet", "system:node:node-1", "system:nodes");
        using var certificate = X509Certificate2.CreateFromPemFile(issued.CertificatePath, issued.KeyPath);

        Assert.Equal("system:node:node-1", certificate.GetNameInfo(X509NameType.SimpleName, forIssuer: false));
        Assert.Contains("O=system:nodes", certificate.Subject, StringComparison.Ordinal);
        Assert.True(certificate.HasPrivateKey);
        var usage = Assert.Single(certificate.Extensions.OfType<X509EnhancedKeyUsageExtension>());
        Assert.Equal(["1.3.6.1.5.5.7.3.2"], usage.EnhancedKeyUsages.Cast<System.Security.Cryptography.Oid>().Select(o => o.Value));
        Assert.True(ChainsTo(certificate, pki.CaCertificate));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(issued.KeyPath));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(pki.Directory));
        Assert.Contains("BEGIN PUBLIC KEY", File.ReadAllText(pki.ServiceAccountPublicKeyPath), StringComparison.Ordinal);
    }

    [Fact]
    public void A_serving_certificate_names_its_hosts_and_addresses_and_a_loaded_PKI_keeps_issuing_from_the_same_CA()
    {
        using (var created = BoxPki.Create(Path.Combine(_directory.FullName, "pki")))
        {
            _ = created;
        }

        using var pki = BoxPki.Load(Path.Combine(_directory.FullName, "pki"));
        var issued = pki.IssueServingCertificate("kubelet-serving", "node-1", ["node-1"], [IPAddress.Parse("10.244.0.2")]);
        using var certificate = X509CertificateLoader.LoadCertificateFromFile(issued.CertificatePath);

        Assert.True(certificate.MatchesHostname("node-1"));
        Assert.True(certificate.MatchesHostname("10.244.0.2"));
        Assert.False(certificate.MatchesHostname("node-2"));
        Assert.True(ChainsTo(certificate, pki.CaCertificate));
    }

    [Fact]
    public void A_kubeconfig_context_names_the_user_entry_it_writes()
    {
        using var pki = BoxPki.Create(Path.Combine(_directory.FullName, "pki"));
        var client = pki.IssueClientCertificate("scheduler", "system:kube-scheduler");
        var path = Kubeconfig.WriteClientCertificate(Path.Combine(_directory.FullName, "scheduler.kubeconfig"), new Uri("https://127.0.0.1:6443"), pki.CaCertificatePath, client);

        var config = KubernetesClientConfiguration.LoadKubeConfig(path);
        var context = Assert.Single(config.Contexts);
        Assert.Equal(config.CurrentContext, context.Name);
        Assert.Equal("scheduler", context.ContextDetails.User);
        Assert.Equal("scheduler", Assert.Single(config.Users).Name);
        var built = KubernetesClientConfiguration.BuildConfigFromConfigFile(path);
        Assert.Equal(client.CertificatePath, built.ClientCertificateFilePath);
        Assert.Equal("https://127.0.0.1:6443", built.Host);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
    }

    public void Dispose() => _directory.Delete(recursive: true);

    private static bool ChainsTo(X509Certificate2 certificate, X509Certificate2 ca)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(certificate);
    }
}
