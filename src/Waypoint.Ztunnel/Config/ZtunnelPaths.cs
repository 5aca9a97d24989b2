namespace Waypoint.Ztunnel.Config;

/// <summary>
/// Where one node's ztunnel keeps its files, under its root (0700): the Envoy bootstrap, the watched <c>config/</c>
/// folder (listeners and clusters, replaced by atomic rename), <c>keys/</c> (0700: one SDS file per ServiceAccount,
/// 0600), the mesh root, Envoy's logs and <c>status.json</c> (what it serves, for tests and people).
/// </summary>
public sealed record ZtunnelPaths(string Root)
{
    public string Bootstrap => Path.Combine(Root, "bootstrap.json");

    public string ConfigDirectory => Path.Combine(Root, "config");

    public string Listeners => Path.Combine(ConfigDirectory, "listeners.json");

    public string Clusters => Path.Combine(ConfigDirectory, "clusters.json");

    public string KeyDirectory => Path.Combine(Root, "keys");

    public string RootCertificate => Path.Combine(Root, "root-cert.pem");

    public string EnvoyLog => Path.Combine(Root, "envoy.log");

    public string AccessLog => Path.Combine(Root, "access.log");

    public string Status => Path.Combine(Root, "status.json");

    public string SecretFile(string name) => Path.Combine(KeyDirectory, name + ".json");

    public string TokenFile(string name) => Path.Combine(KeyDirectory, name + ".token");
}
