using System.Net;
using System.Text.Json.Nodes;
using Waypoint.Local.Echo;

namespace Waypoint.EndToEnd.Tests.Mesh;

/// <summary>Namespace <c>live</c> (its waypoint for every Service): Service <c>app</c> routed to <c>app-a</c> or <c>app-b</c> by an editable file.</summary>
internal static class LiveMesh
{
    public const string Ns = "live";

    public const string RouteFile = "live-10-route.yaml";

    public static IReadOnlyDictionary<string, string> Files => new Dictionary<string, string>
    {
        ["live-00-mesh.yaml"] = MeshYaml.Namespace(Ns, waypoint: "waypoint") + MeshYaml.Waypoint("waypoint", Ns)
            + MeshYaml.EchoService("app", Ns) + MeshYaml.EchoService("app-a", Ns) + MeshYaml.EchoService("app-b", Ns) + MeshYaml.EchoService("app-c", Ns),
        [RouteFile] = Route("app-a"),
    };

    public static string Route(string backend) => MeshYaml.Route("app", Ns, $"  - backendRefs: [{{ name: {backend}, port: 80 }}]\n");
}

/// <summary>Editing the YAML that <c>waypoint local</c> watches: re-applied, re-translated by the controller pod and pushed while traffic flows.</summary>
[Collection(MeshBoxGroup.Name)]
public sealed class LiveConfigTests(MeshBoxFixture mesh)
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
        var printed = mesh.LineCount;
        await File.WriteAllTextAsync(Path.Combine(mesh.Directory, LiveMesh.RouteFile), LiveMesh.Route(target));
        await mesh.WaitForLineAsync(printed, l => IsApply(l) && l.Contains(" 0 rejected", StringComparison.Ordinal), "the edited route applied");
        await switched.Task.WaitAsync(TimeSpan.FromMinutes(2));
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
        var printed = mesh.LineCount;
        var broken = Path.Combine(mesh.Directory, "live-50-broken.yaml");
        await File.WriteAllTextAsync(broken, "apiVersion: v1\nkind: Service\nmetadata: [oops\n");
        await mesh.WaitForLineAsync(printed, l => l.StartsWith("rejected", StringComparison.Ordinal) && l.Contains("live-50-broken.yaml", StringComparison.Ordinal), "the broken file reported");
        var round = await mesh.WaitForLineAsync(printed, IsApply, "the round with the broken file");
        Assert.Contains(" 1 rejected", round, StringComparison.Ordinal);
        Assert.Contains(mesh.Lines().Skip(printed), l => l.Contains("nothing pruned", StringComparison.Ordinal));
        Assert.Equal(before, (await SendAsync()).Pod);

        printed = mesh.LineCount;
        File.Delete(broken);
        await mesh.WaitForLineAsync(printed, l => IsApply(l) && l.Contains(" 0 rejected", StringComparison.Ordinal), "a clean round once the file is gone");
        Assert.Equal(before, (await SendAsync()).Pod);
    }

    [Fact]
    public async Task RouteToAMissingBackend_HasResolvedRefsFalse_TheRestKeepsServing()
    {
        var before = (await SendAsync()).Pod;
        var file = Path.Combine(mesh.Directory, "live-60-missing-backend.yaml");
        await File.WriteAllTextAsync(file, MeshYaml.Route("app-c", LiveMesh.Ns, "  - backendRefs: [{ name: nowhere, port: 80 }]\n"));
        try
        {
            // The controller pod reports it on the route's status in the API server, naming the missing Service.
            JsonNode? condition = null;
            JsonNode? route = null;
            await MeshBoxFixture.EventuallyAsync(async () =>
            {
                route = await TryGetRouteAsync("app-c");
                condition = (route?["status"]?["parents"]?.AsArray() ?? []).SelectMany(p => p?["conditions"]?.AsArray() ?? [])
                    .FirstOrDefault(c => c?["type"]?.GetValue<string>() == "ResolvedRefs");
                return condition?["status"]?.GetValue<string>() == "False";
            }, () => Task.FromResult($"HTTPRoute live/app-c never had ResolvedRefs=False: {route?["status"]?.ToJsonString()}"));
            Assert.Equal("BackendNotFound", condition!["reason"]!.GetValue<string>());
            Assert.Contains("nowhere", condition["message"]!.GetValue<string>(), StringComparison.Ordinal);

            // Gateway API: a rule whose backends are all invalid answers 500; other Services are untouched.
            await MeshBoxFixture.EventuallyAsync(async () =>
            {
                using var response = await mesh.Client.GetAsync(new Uri("http://app-c.live.svc.cluster.local/x"));
                return response.StatusCode == HttpStatusCode.InternalServerError;
            }, () => Task.FromResult("app-c never answered 500 for its route's missing backend"));
            Assert.Equal(before, (await SendAsync()).Pod);
        }
        finally
        {
            File.Delete(file);
        }

        // Pruned with its file: app-c is served by its own pod again.
        await MeshBoxFixture.EventuallyAsync(async () => await TryGetRouteAsync("app-c") is null, () => Task.FromResult("HTTPRoute live/app-c was not pruned"));
        await MeshBoxFixture.EventuallyAsync(async () =>
        {
            using var response = await mesh.Client.GetAsync(new Uri("http://app-c.live.svc.cluster.local/x"));
            return response.StatusCode == HttpStatusCode.OK && EchoReply.Parse(await response.Content.ReadAsStringAsync()).Pod == "app-c-0";
        }, () => Task.FromResult("app-c was not served by app-c-0 once its route was pruned"));
    }

    private static bool IsApply(string line) => line.StartsWith("Apply ", StringComparison.Ordinal) && line.Contains(" applied, ", StringComparison.Ordinal);

    private async Task<JsonNode?> TryGetRouteAsync(string name)
    {
        using var response = await mesh.Admin.GetAsync(new Uri($"/apis/gateway.networking.k8s.io/v1/namespaces/{LiveMesh.Ns}/httproutes/{name}", UriKind.Relative));
        return response.StatusCode == HttpStatusCode.NotFound ? null : JsonNode.Parse(await response.EnsureSuccessStatusCode().Content.ReadAsStringAsync());
    }

    private async Task<EchoReply> SendAsync()
    {
        using var response = await mesh.Client.GetAsync(s_app);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode} {body}");
        return EchoReply.Parse(body);
    }
}
