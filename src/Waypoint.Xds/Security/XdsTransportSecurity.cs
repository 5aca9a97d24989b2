namespace Waypoint.Xds.Security;

/// <summary>How the xDS listener protects its connections.</summary>
public enum XdsTransportSecurity
{
    /// <summary>
    /// TLS with the server's mesh certificate (from istiod's CA); clients present their workload certificate, which
    /// must chain to the mesh root, and may read only the node groups their identity is granted. The default.
    /// </summary>
    MutualTls,

    /// <summary>
    /// h2c without authentication: any client reads any node group by naming it in <c>node.cluster</c>. Only for the
    /// one-machine rig (<c>waypoint local</c>) and tests, where every process is already trusted.
    /// </summary>
    Plaintext,
}
