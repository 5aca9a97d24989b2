using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace Waypoint.EndToEnd.Tests.Cli;

/// <summary>
/// `waypoint local` as a user runs it (the built host, a directory of YAML): it names the kinds it ignores, and each
/// applied configuration gets a version that changes when only a route does.
/// </summary>
public sealed partial class LocalCommandOutputTests : IAsyncLifetime
{
    private static readonly TimeSpan s_limit = TimeSpan.FromSeconds(90);
    private readonly string _directory = Directory.CreateTempSubdirectory("waypoint-local-cli-").FullName;
    private readonly StringBuilder _output = new();
    private Process? _process;

    public Task InitializeAsync() => Task.CompletedTask;

    [Fact]
    public async Task Prints_Ignored_Kinds_And_A_Version_That_Follows_A_Route_Only_Edit()
    {
        var config = Path.Combine(_directory, "config");
        Directory.CreateDirectory(config);
        await File.WriteAllTextAsync(Path.Combine(config, "mesh.yaml"), Mesh);
        await File.WriteAllTextAsync(Path.Combine(config, "route.yaml"), Route("/a"));
        Start(config);

        // The summary prints the ignored kinds after its first line: wait for that line too, do not race the writer.
        await WaitForLineAsync(l => l.Contains("The local mesh is up.", StringComparison.Ordinal), "the mesh to come up");
        await WaitForLineAsync(l => l.Contains("ignored:", StringComparison.Ordinal) && l.Contains("ConfigMap", StringComparison.Ordinal), "the ignored ConfigMap");

        await File.WriteAllTextAsync(Path.Combine(config, "route.yaml"), Route("/b"));
        var first = Version(await WaitForLineAsync(l => l.StartsWith("Configuration 2 applied", StringComparison.Ordinal), "the first route edit"));
        await File.WriteAllTextAsync(Path.Combine(config, "route.yaml"), Route("/c"));
        var second = Version(await WaitForLineAsync(l => l.StartsWith("Configuration 3 applied", StringComparison.Ordinal), "the second route edit"));

        // Only the RouteConfiguration changed between the two: the version still tells them apart.
        Assert.NotEqual(first, second);
    }

    public async Task DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process?.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    private void Start(string config)
    {
        var startInfo = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in (string[])[Path.Combine(AppContext.BaseDirectory, "waypoint.dll"), "local", config, "--state-file", Path.Combine(_directory, "state.json")])
        {
            startInfo.ArgumentList.Add(argument);
        }

        _process = Process.Start(startInfo)!;
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_output)
            {
                _output.AppendLine(line);
            }
        }
    }

    private string[] Lines()
    {
        lock (_output)
        {
            return _output.ToString().Split('\n', StringSplitOptions.TrimEntries);
        }
    }

    /// <summary>Waits for the command to print a matching line; the limit is a safety net, not a timed assertion.</summary>
    private async Task<string> WaitForLineAsync(Func<string, bool> match, string what)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(s_limit.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            if (Lines().FirstOrDefault(match) is { } line)
            {
                return line;
            }

            if (_process!.HasExited)
            {
                Assert.Fail($"waypoint local exited ({_process.ExitCode}) before {what}:\n{string.Join('\n', Lines())}");
            }

            Assert.True(Stopwatch.GetTimestamp() < deadline, $"waypoint local did not print {what}:\n{string.Join('\n', Lines())}");
            await Task.Delay(50);
        }
    }

    private static string Version(string applied) => VersionPattern().Match(applied) is { Success: true } m ? m.Groups[1].Value : throw new InvalidOperationException(applied);

    [GeneratedRegex(@"waypoint\.clitest@([0-9a-f]+)")]
    private static partial Regex VersionPattern();

    private static string Route(string path) => $$"""
        apiVersion: gateway.networking.k8s.io/v1
        kind: HTTPRoute
        metadata: {name: echo, namespace: clitest}
        spec:
          parentRefs:
          - {group: "", kind: Service, name: echo, port: 8080}
          rules:
          - matches:
            - path: {type: PathPrefix, value: {{path}} }
            backendRefs:
            - {name: echo, port: 8080}
        """;

    private const string Mesh = """
        apiVersion: v1
        kind: Namespace
        metadata:
          name: clitest
          labels: {istio.io/use-waypoint: waypoint}
        ---
        apiVersion: gateway.networking.k8s.io/v1
        kind: Gateway
        metadata: {name: waypoint, namespace: clitest}
        spec:
          gatewayClassName: kgateway-waypoint
          listeners:
          - {name: mesh, port: 15008, protocol: HBONE}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: echo, namespace: clitest}
        spec:
          selector: {app: echo}
          ports:
          - {name: http, port: 8080, targetPort: 8080}
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: echo-0, namespace: clitest, labels: {app: echo}}
        spec:
          containers:
          - {name: echo, image: waypoint/echo}
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: settings, namespace: clitest}
        data: {key: value}
        """;
}
