using BenchmarkDotNet.Running;

namespace Waypoint.Benchmarks;

internal static class Program
{
    public static int Main(string[] args)
    {
        if (args is ["transformation-dataplane", .. var rest])
        {
            return TransformationDataPlane.RunAsync(rest).GetAwaiter().GetResult();
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
