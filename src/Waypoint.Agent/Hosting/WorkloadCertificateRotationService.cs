using Microsoft.Extensions.Hosting;

namespace Waypoint.Agent.Hosting;

/// <summary>Runs <see cref="WorkloadCertificateManager.RunAsync"/> for the host's lifetime.</summary>
internal sealed class WorkloadCertificateRotationService(WorkloadCertificateManager manager) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => manager.RunAsync(stoppingToken);
}
