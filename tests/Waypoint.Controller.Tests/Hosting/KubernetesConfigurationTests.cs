using Microsoft.Extensions.DependencyInjection;

namespace Waypoint.Controller.Tests.Hosting;

/// <summary>Where <c>waypoint controller</c> outside a cluster finds the API server: <c>KUBECONFIG</c>, as kubectl does.</summary>
[Collection(ProcessEnvironmentGroup.Name)]
public sealed class KubernetesConfigurationTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("waypoint-kubeconfig-").FullName;
    private readonly string? _previous = Environment.GetEnvironmentVariable("KUBECONFIG");

    [Fact]
    public void Kubeconfig_FromTheEnvironment_IsTheOneUsed()
    {
        var first = Write("first", "https://127.0.0.91:6443", current: true);
        var second = Write("second", "https://127.0.0.92:6443", current: false);
        Environment.SetEnvironmentVariable("KUBECONFIG", string.Join(Path.PathSeparator, first, second));

        var configuration = WaypointControllerServiceCollectionExtensions.DefaultKubernetesConfiguration();

        Assert.Equal("https://127.0.0.91:6443/", new Uri(configuration.Host).ToString());
    }

    public void Dispose()
    {
        Environment.SetEnvironmentVariable("KUBECONFIG", _previous);
        Directory.Delete(_directory, recursive: true);
    }

    private string Write(string name, string server, bool current)
    {
        var path = Path.Combine(_directory, name);
        File.WriteAllText(path, $"""
            apiVersion: v1
            kind: Config
            clusters:
            - name: {name}
              cluster: {"{"} server: {server} {"}"}
            users:
            - name: {name}
              user: {"{"} token: not-a-secret {"}"}
            contexts:
            - name: {name}
              context: {"{"} cluster: {name}, user: {name} {"}"}
            {(current ? $"current-context: {name}" : "")}
            """);
        return path;
    }
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessEnvironmentGroup
{
    public const string Name = "process environment";
}
