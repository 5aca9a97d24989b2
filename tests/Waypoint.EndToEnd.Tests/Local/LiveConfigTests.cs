using System.Net;
using Waypoint.Local;
using Waypoint.Local.Echo;

namespace Waypoint.EndToEnd.Tests.Local;

public sealed class LiveFixture : RigFixture
{
    public const string Ns = "live";

    protected override bool Watch => true;

    protected override IReadOnlyDictionary<string, string> Files => new Dictionary<string, string>
    {
        ["00-mesh.yaml"] = RigYaml.Namespace(Ns, waypoint: "waypoint") + RigYaml.Waypoint("waypoint", Ns)
            + RigYaml.EchoService("app", Ns) + RigYaml.EchoService("app-a", Ns) + RigYaml.EchoService("app-b", Ns),
        ["10-route.yaml"] = Route("app-a"),
    };

    public static string Route(string backend) => RouteYaml.ForService("app", Ns, $"  - backendRefs: [{{ name: {backend}, port: 80 }}]\n");

    /// <summary>Writes a file and waits until the watcher has applied (or rejected) the directory with it.</summary>
    public async Task<LocalApplyResult> EditAsync(string file, string? content, Func<LocalApplyResult, bool> until)
    {
        var applied = new TaskCompletionSource<LocalApplyResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnApplied(LocalApplyResult result)
        {
            if (until(result))
            {
                applied.TrySetResult(result);
            }
        }

        Rig.Applied += OnApplied;
        try
        {
            var path = Path.Combine(Directory, file);
            if (content is null)
            {
                File.Delete(path);
            }
            else
            {
                await File.WriteAllTextAsync(path, content);
            }

            return await applied.Task.WaitAsync(TimeSpan.FromSeconds(30));
        }
        finally
        {
            Rig.Applied -= OnApplied;
        }
    }
}

/// <summary>Editing the YAML re-translates and pushes while traffic flows.</summary>
public sealed class LiveConfigTests(LiveFixture fixture) : IClassFixture<LiveFixture>
{
    private static readonly Uri s_app = new("http://app.live.svc.cluster.local/traffic");

    [Fact]
    public async Task RouteChange_WhileTrafficFlows_NoRequestFails()
    {
        var start = (await SendAsync()).Pod;
        var target = start == "app-a-0" ? "app-b" : "app-a";
        var failures = new List<string>();
        var seen = new HashSet<string>();
        var sent = 0;
        using var stop = new CancellationTokenSource();
        var switched = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var afterSwitch = 0;

        async Task WorkerAsync()
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    var echo = await SendAsync();
                    Interlocked.Increment(ref sent);
                    lock (seen)
                    {
                        seen.Add(echo.Pod);
                        if (echo.Pod == $"{target}-0" && ++afterSwitch >= 200)
                        {
                            switched.TrySetResult();
                        }
                    }
                }
                catch (Exception ex) when (ex is HttpRequestException or Xunit.Sdk.XunitException or TaskCanceledException)
                {
                    lock (failures)
                    {
                        failures.Add(ex.Message);
                    }
                }
            }
        }

        var workers = Enumerable.Range(0, 4).Select(_ => Task.Run(WorkerAsync)).ToArray();
        var result = await fixture.EditAsync("10-route.yaml", LiveFixture.Route(target), r => !r.Rejected);
        await fixture.Rig.WaitForAckAsync(result).WaitAsync(TimeSpan.FromSeconds(30));
        await switched.Task.WaitAsync(TimeSpan.FromSeconds(60));
        await stop.CancelAsync();
        await Task.WhenAll(workers);

        Assert.Empty(failures);
        Assert.Contains($"{target}-0", seen);
        Assert.True(sent > 200, $"only {sent} requests were sent");
    }

    [Fact]
    public async Task InvalidFile_IsReported_PreviousConfigurationKeepsServing()
    {
        var before = (await SendAsync()).Pod;
        var rejected = await fixture.EditAsync("50-broken.yaml", "apiVersion: v1\nkind: Service\nmetadata: [oops\n", r => r.Rejected);
        Assert.Contains(rejected.Problems, p => p.Contains("50-broken.yaml", StringComparison.Ordinal));
        Assert.Equal(before, (await SendAsync()).Pod);
        await fixture.EditAsync("50-broken.yaml", null, r => !r.Rejected);
        Assert.Equal(before, (await SendAsync()).Pod);
    }

    private async Task<EchoReply> SendAsync()
    {
        using var response = await fixture.Client.GetAsync(s_app);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode} {body}");
        return EchoReply.Parse(body);
    }
}
