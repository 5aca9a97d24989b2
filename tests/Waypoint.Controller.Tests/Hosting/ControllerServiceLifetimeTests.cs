using k8s;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Waypoint.Controller.Tests.Hosting;

/// <summary>How the container ends the controller it made: a SIGTERM'd `waypoint controller` must exit cleanly.</summary>
public sealed class ControllerServiceLifetimeTests
{
    /// <summary>
    /// The controller is a singleton and, through its factory, the hosted service too, so the container disposes it
    /// twice on shutdown; the second time used to release a disposed semaphore and crash the exiting process.
    /// </summary>
    [Fact]
    public async Task Disposing_The_Container_Twice_Disposes_The_Controller_Without_A_Fault()
    {
        var services = new ServiceCollection();
        services.AddSingleton<ILoggerFactory>(NullLoggerFactory.Instance);
        services.AddSingleton(new KubernetesClientConfiguration { Host = "https://127.0.0.1:1" });
        services.AddWaypointController();
        var provider = services.BuildServiceProvider();
        var hosted = provider.GetServices<IHostedService>().ToList();
        var controller = provider.GetRequiredService<WaypointController>();
        Assert.Contains(controller, hosted);

        await provider.DisposeAsync();
        controller.Dispose();
    }
}
