using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Waypoint.EndToEnd.Tests.Mesh;

/// <summary>
/// <c>kubectl exec</c> and <c>kubectl port-forward</c> as a user runs them against the shared mesh box: kubectl (the
/// box's, 1.37) in the box's network namespace with its admin kubeconfig, through the real API server (WebSocket
/// from kubectl, SPDY onwards) and kubelet, to the node runtime's streaming server, which speaks SPDY/3.1 to the
/// kubelet. The pods are the demo namespace's echo pods.
/// </summary>
[Collection(MeshBoxGroup.Name)]
public sealed partial class KubectlOnTheBoxTests(MeshBoxFixture mesh)
{
    private static readonly TimeSpan s_limit = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task Kubectl_Exec_Runs_In_The_Pod_With_Stdout_Stderr_Stdin_And_The_Exit_Code()
    {
        var pod = EchoPod();
        var failing = await RunKubectlAsync(["exec", "-n", BasicsMesh.Ns, pod, "--", "sh", "-c", "echo out-$((6*7)); echo to-stderr >&2; exit 3"], stdin: null);
        Assert.True(failing.Code == 3, $"exit {failing.Code}: {failing.Stderr}\n{NodeLog()}");
        Assert.Equal("out-42\n", failing.Stdout);
        Assert.Contains("to-stderr", failing.Stderr, StringComparison.Ordinal);
        Assert.Contains("command terminated with exit code 3", failing.Stderr, StringComparison.Ordinal);

        // -i: kubectl's stdin reaches the command, and its end ends `cat`.
        var piped = await RunKubectlAsync(["exec", "-i", "-n", BasicsMesh.Ns, pod, "--", "cat"], stdin: "through kubectl exec -i\n");
        Assert.True(piped.Code == 0, $"exit {piped.Code}: {piped.Stderr}");
        Assert.Equal("through kubectl exec -i\n", piped.Stdout);
    }

    [Fact]
    public async Task Kubectl_Port_Forward_Reaches_The_Pods_Port_For_Each_Connection()
    {
        var pod = EchoPod();
        using var forward = Start([mesh.State.Kubectl, "--kubeconfig", mesh.State.Kubeconfig, "port-forward", "-n", BasicsMesh.Ns, $"pod/{pod}", ":8080"]);
        var stderr = forward.StandardError.ReadToEndAsync();
        try
        {
            // "Forwarding from 127.0.0.1:<local> -> 8080": kubectl chose the local port.
            using var timeout = new CancellationTokenSource(s_limit);
            string? line;
            var local = 0;
            while ((line = await forward.StandardOutput.ReadLineAsync(timeout.Token)) is not null)
            {
                var match = Forwarding().Match(line);
                if (match.Success)
                {
                    local = int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
                    break;
                }
            }

            Assert.True(local > 0, $"kubectl port-forward never said where it listens: {(forward.HasExited ? await stderr : "(still running)")}");

            // Two requests, two connections (kubectl opens a stream pair for each) over the one forward.
            foreach (var path in (string[])["/via-kubectl-port-forward", "/second-connection"])
            {
                var curl = await RunInBoxAsync(["curl", "-s", "-m", "20", $"http://127.0.0.1:{local}{path}"], stdin: null);
                Assert.True(curl.Code == 0, $"curl exit {curl.Code}: {curl.Stderr}\n{NodeLog()}");
                Assert.Contains($"\"path\":\"{path}\"", curl.Stdout.Replace(" ", string.Empty, StringComparison.Ordinal), StringComparison.Ordinal);
                Assert.Contains(pod, curl.Stdout, StringComparison.Ordinal);
            }
        }
        finally
        {
            if (!forward.HasExited)
            {
                forward.Kill();
            }

            await forward.WaitForExitAsync();
        }
    }

    /// <summary>
    /// The streaming lines of the box's logs, for a failure's message: the node runtime's (warnings and errors, in
    /// <c>waypoint local</c>'s output, where the in-process node logs) and the kubelet's and other files'.
    /// </summary>
    private string NodeLog() => string.Join('\n', mesh.Lines().Where(l => l.Contains("Streaming", StringComparison.Ordinal)).TakeLast(30)) + "\n" + string.Join('\n', System.IO.Directory.EnumerateFiles(mesh.State.WorkDirectory, "*.log", SearchOption.AllDirectories)
        .SelectMany(f => { try { return File.ReadLines(f).Where(l => l.Contains("SPDY", StringComparison.OrdinalIgnoreCase) || l.Contains("Timeout occurred", StringComparison.Ordinal) || l.Contains("/exec/", StringComparison.Ordinal) || l.Contains("/portforward/", StringComparison.Ordinal)).TakeLast(30).Select(l => Path.GetFileName(f) + ": " + (l.Length > 300 ? l[..300] : l)).ToList(); } catch (IOException) { return []; } catch (UnauthorizedAccessException) { return []; } })
        .TakeLast(80));

    private string EchoPod() => mesh.Pods(BasicsMesh.Ns).Select(p => p.Name).Where(n => n.StartsWith("unbound-", StringComparison.Ordinal)).Order(StringComparer.Ordinal).First();

    private Task<(int Code, string Stdout, string Stderr)> RunKubectlAsync(string[] arguments, string? stdin) =>
        RunInBoxAsync([mesh.State.Kubectl, "--kubeconfig", mesh.State.Kubeconfig, .. arguments], stdin);

    private async Task<(int Code, string Stdout, string Stderr)> RunInBoxAsync(string[] command, string? stdin)
    {
        using var process = Start(command);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin);
        }

        process.StandardInput.Close();
        using var timeout = new CancellationTokenSource(s_limit);
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout, await stderr);
    }

    /// <summary>A command in the box's network namespace only (it reads the kubeconfig and certificates from the host's files).</summary>
    private Process Start(string[] command)
    {
        var startInfo = new ProcessStartInfo("nsenter")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        startInfo.ArgumentList.Add($"--target={mesh.State.UnshareProcessId}");
        if (mesh.State.UserNamespace)
        {
            startInfo.ArgumentList.Add("--user");
            startInfo.ArgumentList.Add("--preserve-credentials");
        }

        startInfo.ArgumentList.Add("--net");
        startInfo.ArgumentList.Add("--");
        foreach (var argument in command)
        {
            startInfo.ArgumentList.Add(argument);
        }

        return Process.Start(startInfo)!;
    }

    [GeneratedRegex(@"Forwarding from 127\.0\.0\.1:(\d+) -> 8080")]
    private static partial Regex Forwarding();
}
