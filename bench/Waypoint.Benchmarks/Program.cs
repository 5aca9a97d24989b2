using BenchmarkDotNet.Running;

namespace Waypoint.Benchmarks;

internal static class Program
{
    public static int Main(string[] args)
    {
        if (args is ["local-box", .. var boxArgs])
        {
            return LocalBoxStartup.RunAsync(boxArgs).GetAwaiter().GetResult();
        }

        if (args is ["route-edit-load", .. var editArgs] && OperatingSystem.IsLinux())
        {
            return RouteEditUnderLoad.RunAsync(editArgs).GetAwaiter().GetResult();
        }

        if (args is ["controller-sync-box", .. var syncArgs] && OperatingSystem.IsLinux())
        {
            return ControllerSyncOnTheBox.RunAsync(syncArgs).GetAwaiter().GetResult();
        }

        if (args is ["translation-memory", .. var rest])
        {
            return TranslationMemory.Run(rest);
        }

        if (args is ["transformation-dataplane", .. var dataPlaneArgs])
        {
            return TransformationDataPlane.RunAsync(dataPlaneArgs).GetAwaiter().GetResult();
        }

        if (args is ["authorization-dataplane", .. var authorizationArgs])
        {
            return AuthorizationDataPlane.RunAsync(authorizationArgs).GetAwaiter().GetResult();
        }

        if (args is ["request-metrics-cost", .. var requestMetricsArgs])
        {
            return RequestMetricsCost.RunAsync(requestMetricsArgs).GetAwaiter().GetResult();
        }

        if (args is ["istiod-ca", .. var caArgs] && OperatingSystem.IsLinux())
        {
            return IstiodCertificates.RunLatencyAsync(caArgs).GetAwaiter().GetResult();
        }

        if (args is ["istiod-outage", .. var outageArgs] && OperatingSystem.IsLinux())
        {
            return IstiodCertificates.RunOutageAsync(outageArgs).GetAwaiter().GetResult();
        }

        if (args is ["box-memory", .. var memoryArgs] && OperatingSystem.IsLinux())
        {
            return BoxMemory.RunAsync(memoryArgs).GetAwaiter().GetResult();
        }

        if (args is ["controller-sync", ..])
        {
            Console.WriteLine(ControllerSyncMeasurement.RunAsync().GetAwaiter().GetResult());
            return 0;
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
