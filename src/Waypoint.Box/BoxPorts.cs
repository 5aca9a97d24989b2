namespace Waypoint.Box;

/// <summary>
/// The fixed ports of the box's components, all on 127.0.0.1 inside its private network namespace (they cannot
/// clash with the host's or another box's).
/// </summary>
public static class BoxPorts
{
    public const int EtcdClient = 2379;
    public const int EtcdPeer = 2380;
    public const int ApiServer = 6443;
    public const int ControllerManager = 10257;
    public const int Scheduler = 10259;

    /// <summary>istiod plaintext gRPC (xDS, workload discovery).</summary>
    public const int IstiodGrpc = 15010;

    /// <summary>istiod TLS gRPC (xDS and the CA: IstioCertificateService).</summary>
    public const int IstiodSecureGrpc = 15012;

    /// <summary>istiod HTTP (debug, <c>/ready</c>).</summary>
    public const int IstiodHttp = 8080;

    public const int IstiodWebhook = 15017;
    public const int IstiodMonitoring = 15014;
}
