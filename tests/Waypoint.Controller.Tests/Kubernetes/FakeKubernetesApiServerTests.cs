using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using Waypoint.Controller.Tests.Infrastructure;
using Waypoint.TestKit.Kubernetes;

namespace Waypoint.Controller.Tests.Kubernetes;

/// <summary>The fake API server must behave like the real one, or the controller tests prove nothing.</summary>
public sealed class FakeKubernetesApiServerTests : IAsyncLifetime, IDisposable
{
    private FakeKubernetesApiServer _server = null!;
    private HttpClient _http = null!;

    public async Task InitializeAsync()
    {
        _server = await FakeKubernetesApiServer.StartNewAsync();
        _http = new HttpClient { BaseAddress = _server.BaseUri, Timeout = TimeSpan.FromSeconds(20) };
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    public void Dispose() => _http.Dispose();

    [Fact]
    public async Task KubernetesClient_TypedApi_Works_Against_Fake()
    {
        using var client = new k8s.Kubernetes(_server.CreateClientConfiguration());
        var created = await client.CoreV1.CreateNamespacedServiceAsync(
            new V1Service { Metadata = new V1ObjectMeta { Name = "web" }, Spec = new V1ServiceSpec { Ports = [new V1ServicePort { Port = 80 }] } }, "apps");
        Assert.Equal("apps", created.Metadata.NamespaceProperty);
        Assert.False(string.IsNullOrEmpty(created.Metadata.Uid));
        Assert.StartsWith("10.96.", created.Spec.ClusterIP, StringComparison.Ordinal);

        var list = await client.CoreV1.ListServiceForAllNamespacesAsync();
        Assert.Equal("web", Assert.Single(list.Items).Metadata.Name);
        Assert.False(string.IsNullOrEmpty(list.Metadata.ResourceVersion));

        var ex = await Assert.ThrowsAsync<k8s.Autorest.HttpOperationException>(() => client.CoreV1.ReadNamespacedServiceAsync("missing", "apps"));
        Assert.Equal(HttpStatusCode.NotFound, ex.Response.StatusCode);
    }

    [Fact]
    public async Task Watch_From_ResourceVersion_Streams_Later_Events_In_Order()
    {
        var first = Create("a");
        var rv = first["metadata"]!["resourceVersion"]!.GetValue<string>();
        Create("b");
        _server.Store.Delete(FakeResourceType.Services, "apps", "a");

        var lines = await ReadWatchAsync($"/api/v1/services?watch=true&resourceVersion={rv}", count: 2);
        Assert.Equal(["ADDED b", "DELETED a"], lines.Select(l => $"{l["type"]} {l["object"]!["metadata"]!["name"]}"));
    }

    [Fact]
    public async Task Watch_From_Compacted_ResourceVersion_Answers_410_Error_Event()
    {
        var first = Create("a");
        Create("b");
        _server.Store.Compact(expireOpenWatches: false);
        var lines = await ReadWatchAsync($"/api/v1/namespaces/apps/services?watch=1&resourceVersion={first["metadata"]!["resourceVersion"]}", count: 1);
        Assert.Equal("ERROR", lines[0]["type"]!.GetValue<string>());
        Assert.Equal(410, lines[0]["object"]!["code"]!.GetValue<int>());
    }

    [Fact]
    public async Task Bookmarks_Reach_Watches_That_Asked_For_Them()
    {
        var rv = _server.Store.CurrentRevision;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var watching = ReadWatchAsync($"/api/v1/services?watch=true&allowWatchBookmarks=true&resourceVersion={rv}", count: 1, cts.Token);
        await Eventually.TrueAsync(() => _server.Store.OpenWatchCount(FakeResourceType.Services) == 1, "watch open");
        _server.Store.SendBookmarks();
        var lines = await watching;
        Assert.Equal("BOOKMARK", lines[0]["type"]!.GetValue<string>());
        Assert.Equal(rv.ToString(System.Globalization.CultureInfo.InvariantCulture), lines[0]["object"]!["metadata"]!["resourceVersion"]!.GetValue<string>());
    }

    [Fact]
    public async Task Status_Subresource_Touches_Only_Status_And_Spec_Changes_Bump_Generation()
    {
        Create("gw", FakeResourceType.Gateways, """{"gatewayClassName":"x","listeners":[]}""");
        var put = await SendAsync(HttpMethod.Put, "/apis/gateway.networking.k8s.io/v1/namespaces/apps/gateways/gw/status",
            """{"metadata":{"name":"gw"},"spec":{"gatewayClassName":"changed"},"status":{"conditions":[{"type":"Accepted","status":"True"}]}}""");
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        var stored = _server.Store.Get(FakeResourceType.Gateways, "apps", "gw").Body;
        Assert.Equal("x", stored["spec"]!["gatewayClassName"]!.GetValue<string>());
        Assert.Equal("True", stored["status"]!["conditions"]![0]!["status"]!.GetValue<string>());
        Assert.Equal("1", stored["metadata"]!["generation"]!.ToJsonString());

        var patch = await SendAsync(HttpMethod.Patch, "/apis/gateway.networking.k8s.io/v1/namespaces/apps/gateways/gw",
            """{"spec":{"gatewayClassName":"y"},"status":null}""", "application/merge-patch+json");
        Assert.Equal(HttpStatusCode.OK, patch.StatusCode);
        stored = _server.Store.Get(FakeResourceType.Gateways, "apps", "gw").Body;
        Assert.Equal("y", stored["spec"]!["gatewayClassName"]!.GetValue<string>());
        Assert.NotNull(stored["status"]);
        Assert.Equal("2", stored["metadata"]!["generation"]!.ToJsonString());
    }

    [Fact]
    public async Task Stale_ResourceVersion_Gets_409_And_NoOp_Update_Keeps_ResourceVersion()
    {
        var created = Create("a");
        var rv = created["metadata"]!["resourceVersion"]!.GetValue<string>();
        created["metadata"]!["labels"] = new JsonObject { ["x"] = "1" };
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Put, "/api/v1/namespaces/apps/services/a", created.ToJsonString())).StatusCode);
        var stale = await SendAsync(HttpMethod.Put, "/api/v1/namespaces/apps/services/a", created.ToJsonString());
        Assert.Equal(HttpStatusCode.Conflict, stale.StatusCode);

        var current = _server.Store.Get(FakeResourceType.Services, "apps", "a").Body;
        var before = _server.Store.CurrentRevision;
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Put, "/api/v1/namespaces/apps/services/a", current.ToJsonString())).StatusCode);
        Assert.Equal(before, _server.Store.CurrentRevision);
        Assert.NotEqual(rv, current["metadata"]!["resourceVersion"]!.GetValue<string>());
    }

    [Fact]
    public void Deleting_An_Owner_Collects_Its_Dependents()
    {
        var owner = Create("gw", FakeResourceType.Gateways, """{"gatewayClassName":"x","listeners":[]}""");
        var uid = owner["metadata"]!["uid"]!.GetValue<string>();
        var dependent = JsonNode.Parse("""{"metadata":{"name":"gw","ownerReferences":[{"apiVersion":"gateway.networking.k8s.io/v1","kind":"Gateway","name":"gw","uid":"UID"}]},"spec":{}}""".Replace("UID", uid, StringComparison.Ordinal))!.AsObject();
        Assert.True(_server.Store.Create(FakeResourceType.Deployments, "apps", dependent).IsSuccess);
        Assert.True(_server.Store.Create(FakeResourceType.Services, "apps", JsonNode.Parse("""{"metadata":{"name":"unrelated"},"spec":{}}""")!.AsObject()).IsSuccess);

        _server.Store.Delete(FakeResourceType.Gateways, "apps", "gw");
        Assert.Empty(_server.Store.Snapshot(FakeResourceType.Deployments));
        Assert.Single(_server.Store.Snapshot(FakeResourceType.Services));
    }

    [Fact]
    public async Task Stopped_Server_Refuses_Connections_And_Restarts_On_The_Same_Port()
    {
        Create("a");
        var port = _server.BaseUri.Port;
        await _server.StopAsync();
        await Assert.ThrowsAsync<HttpRequestException>(() => _http.GetAsync("/api/v1/services"));
        await _server.StartAsync();
        Assert.Equal(port, _server.BaseUri.Port);
        var list = JsonNode.Parse(await _http.GetStringAsync("/api/v1/services"))!;
        Assert.Single(list["items"]!.AsArray());
    }

    [Fact]
    public async Task Unknown_Resource_Answers_404()
    {
        _server.Store.RemoveType(FakeResourceType.ServiceEntries);
        var response = await _http.GetAsync("/apis/networking.istio.io/v1/serviceentries");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    private JsonObject Create(string name, FakeResourceType? type = null, string spec = """{"ports":[{"port":80}]}""")
    {
        var result = _server.Store.Create(type ?? FakeResourceType.Services, "apps", JsonNode.Parse("""{"metadata":{"name":"NAME"},"spec":SPEC}""".Replace("NAME", name, StringComparison.Ordinal).Replace("SPEC", spec, StringComparison.Ordinal))!.AsObject());
        Assert.True(result.IsSuccess);
        return result.Body.AsObject();
    }

    [Fact]
    public async Task Server_Side_Apply_Tracks_Field_Ownership_By_Manager()
    {
        const string path = "/apis/apps/v1/namespaces/apps/deployments/web";
        const string mine = "?fieldManager=me&force=true";

        // Apply creates; the applier owns what it sent.
        var created = await SendAsync(HttpMethod.Patch, path + mine, """
            {"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","labels":{"a":"1","b":"2"}},"spec":{"replicas":2}}
            """, "application/apply-patch+yaml");
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);

        // Another manager adds a label and changes a field we own.
        Assert.True(_server.Store.Patch(FakeResourceType.Deployments, "apps", "web", JsonNode.Parse("""{"metadata":{"labels":{"theirs":"x"}},"spec":{"replicas":7}}""")!, status: false, fieldManager: "kubectl-edit").IsSuccess);

        // Without force, changing their field conflicts.
        var conflict = await SendAsync(HttpMethod.Patch, path + "?fieldManager=me", """
            {"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","labels":{"a":"1"}},"spec":{"replicas":2}}
            """, "application/apply-patch+yaml");
        Assert.Equal(HttpStatusCode.Conflict, conflict.StatusCode);

        // With force we take replicas back; label b, which we no longer apply, goes; their label stays.
        var applied = await SendAsync(HttpMethod.Patch, path + mine, """
            {"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","labels":{"a":"1"}},"spec":{"replicas":2}}
            """, "application/apply-patch+yaml");
        Assert.Equal(HttpStatusCode.OK, applied.StatusCode);
        var web = _server.Store.Get(FakeResourceType.Deployments, "apps", "web").Body;
        Assert.Equal(2, web["spec"]!["replicas"]!.GetValue<int>());
        Assert.Equal("""{"a":"1","theirs":"x"}""", web["metadata"]!["labels"]!.ToJsonString());
        var managers = web["metadata"]!["managedFields"]!.AsArray();
        Assert.Equal(["kubectl-edit/Update", "me/Apply"], managers.Select(m => $"{m!["manager"]}/{m["operation"]}"));
        Assert.Equal("""{"f:metadata":{"f:labels":{"f:theirs":{}}}}""", managers[0]!["fieldsV1"]!.ToJsonString());

        // A field another applier also applies (same value) is shared: when we stop applying it, it stays.
        var shared = await SendAsync(HttpMethod.Patch, path + "?fieldManager=other", """
            {"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","labels":{"a":"1"}}}
            """, "application/apply-patch+yaml");
        Assert.Equal(HttpStatusCode.OK, shared.StatusCode);
        var again = await SendAsync(HttpMethod.Patch, path + mine, """
            {"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":2}}
            """, "application/apply-patch+yaml");
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Equal("1", _server.Store.Get(FakeResourceType.Deployments, "apps", "web").Body["metadata"]!["labels"]!["a"]!.GetValue<string>());
        var revision = _server.Store.CurrentRevision;

        // Re-applying the same configuration is a no-op: no new resourceVersion, no watch event.
        var same = await SendAsync(HttpMethod.Patch, path + mine, """
            {"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":2}}
            """, "application/apply-patch+yaml");
        Assert.Equal(HttpStatusCode.OK, same.StatusCode);
        Assert.Equal(revision, _server.Store.CurrentRevision);
    }

    [Fact]
    public async Task Server_Side_Apply_Needs_A_Field_Manager_And_The_Type()
    {
        const string path = "/apis/apps/v1/namespaces/apps/deployments/web";
        Assert.Equal(HttpStatusCode.BadRequest, (await SendAsync(HttpMethod.Patch, path, """{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"}}""", "application/apply-patch+yaml")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await SendAsync(HttpMethod.Patch, path + "?fieldManager=me", """{"metadata":{"name":"web"}}""", "application/apply-patch+yaml")).StatusCode);
    }

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, string body, string contentType = "application/json")
    {
        using var request = new HttpRequestMessage(method, path) { Content = new StringContent(body, Encoding.UTF8) };
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(contentType);
        return await _http.SendAsync(request);
    }

    private async Task<List<JsonNode>> ReadWatchAsync(string path, int count, CancellationToken cancellationToken = default)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        using var response = await _http.GetAsync(path, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(timeout.Token));
        var lines = new List<JsonNode>();
        while (lines.Count < count && await reader.ReadLineAsync(timeout.Token) is { } line)
        {
            lines.Add(JsonNode.Parse(line)!);
        }

        return lines;
    }
}
