using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Waypoint.Agent.DevCa;
using Waypoint.Xds;
using Waypoint.Xds.Diagnostics;
using Waypoint.Xds.Security;

namespace Waypoint.Local.Waypoint;

/// <summary>
/// The rig's istiod stand-in: our xDS server (h2c ADS on loopback) and the dev CA speaking istiod's
/// <c>IstioCertificateService</c> over TLS, both on ephemeral loopback ports.
/// </summary>
public sealed class LocalControlPlane : IAsyncDisposable
{
    /// <summary>The name agents expect on the CA's certificate, as in a cluster.</summary>
    public const string CaHost = "istiod.istio-system.svc";

    private readonly WebApplication _xds;
    private readonly DevCaServer _ca;

    private LocalControlPlane(WebApplication xds, IPEndPoint xdsEndPoint, DevCaServer ca, DevCertificateAuthority authority, UnsignedJwtTokenReviewer reviewer)
    {
        _xds = xds;
        _ca = ca;
        XdsEndPoint = xdsEndPoint;
        Authority = authority;
        TokenReviewer = reviewer;
        Cache = xds.Services.GetRequiredService<XdsSnapshotCache>();
        Status = xds.Services.GetRequiredService<XdsServerStatus>();
    }

    public IPEndPoint XdsEndPoint { get; }

    public IPEndPoint CaEndPoint => _ca.EndPoint;

    public DevCertificateAuthority Authority { get; }

    public UnsignedJwtTokenReviewer TokenReviewer { get; }

    public XdsSnapshotCache Cache { get; }

    public XdsServerStatus Status { get; }

    public static async Task<LocalControlPlane> StartAsync(DevCertificateAuthority authority, ILoggerFactory loggerFactory, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(authority);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.Replace(ServiceDescriptor.Singleton(loggerFactory));
        // Plaintext by choice: every process of the rig runs on this machine as this user, on loopback only.
        builder.Services.AddWaypointXdsServer(o =>
        {
            o.ListenEndPoint = new IPEndPoint(IPAddress.Loopback, 0);
            o.Transport = XdsTransportSecurity.Plaintext;
        });
        builder.WebHost.ConfigureKestrel(k => k.ListenWaypointXds(new IPEndPoint(IPAddress.Loopback, 0)));
        var xds = builder.Build();
        xds.MapWaypointXds();
        await xds.StartAsync(cancellationToken).ConfigureAwait(false);
        var xdsEndPoint = IPEndPoint.Parse(new Uri(xds.Urls.First()).Authority);

        var reviewer = new UnsignedJwtTokenReviewer();
        DevCaServer ca;
        try
        {
            ca = await DevCaServer.StartAsync(authority, new IPEndPoint(IPAddress.Loopback, 0), reviewer, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await xds.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return new LocalControlPlane(xds, xdsEndPoint, ca, authority, reviewer);
    }

    public async ValueTask DisposeAsync()
    {
        await _ca.DisposeAsync().ConfigureAwait(false);
        await _xds.StopAsync().ConfigureAwait(false);
        await _xds.DisposeAsync().ConfigureAwait(false);
    }
}
