using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using k8s;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Waypoint.TestKit.Kubernetes;

/// <summary>A request the fake API server answered, for assertions (e.g. "no status write happened").</summary>
public sealed record FakeApiRequest(string Method, string Path, string Query, int StatusCode, string? Plural, string? Subresource, bool Watch);

/// <summary>
/// An in-process Kubernetes API server on 127.0.0.1 speaking the real HTTP/JSON protocol: list with resourceVersion,
/// watch streams (bookmarks, ERROR 410 for compacted resourceVersions), create/replace/merge-patch/delete,
/// server-side apply (<c>application/apply-patch+yaml</c> with a JSON body, <c>fieldManager</c>, <c>force</c>; field
/// ownership in metadata.managedFields), the status subresource, 409 on stale resourceVersions and ownerReference
/// garbage collection.
/// Faults: <see cref="StopAsync"/>/<see cref="StartAsync"/> on the same port, <see cref="FakeResourceStore.DropWatches"/>,
/// <see cref="FakeResourceStore.Compact"/>, <see cref="FakeResourceStore.InjectRawWatchLine"/>, <see cref="FailRequests"/>,
/// <see cref="HangRequests"/> (never answered) and <see cref="StallWatches"/> (headers sent, then silence).
/// </summary>
public sealed class FakeKubernetesApiServer : IAsyncDisposable
{
    private readonly ConcurrentQueue<FakeApiRequest> _requests = new();
    private readonly Lock _lifecycle = new();
    private WebApplication? _app;
    private CancellationTokenSource _stopping = new();
    private Func<HttpRequest, int?>? _fault;
    private Func<HttpRequest, bool>? _hang;
    private Func<HttpRequest, bool>? _stall;
    private int _hanging;
    private int _stalled;
    private int _port;

    public FakeKubernetesApiServer(IEnumerable<FakeResourceType>? types = null, TimeProvider? timeProvider = null)
    {
        Store = new FakeResourceStore(types ?? FakeResourceType.Defaults, timeProvider);
    }

    public FakeResourceStore Store { get; }

    /// <summary>TokenReview and SubjectAccessReview (POST to authentication.k8s.io/v1 and authorization.k8s.io/v1).</summary>
    public FakeAccessReviews AccessReviews { get; } = new();

    public Uri BaseUri => new($"http://127.0.0.1:{_port}");

    public IReadOnlyCollection<FakeApiRequest> Requests => _requests.ToArray();

    public static async Task<FakeKubernetesApiServer> StartNewAsync(IEnumerable<FakeResourceType>? types = null)
    {
        var server = new FakeKubernetesApiServer(types);
        await server.StartAsync();
        return server;
    }

    /// <summary>Starts listening; after <see cref="StopAsync"/>, on the same port again.</summary>
    public async Task StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(options => options.Listen(IPAddress.Loopback, _port));
        var app = builder.Build();
        app.Run(HandleAsync);
        lock (_lifecycle)
        {
            _stopping = new CancellationTokenSource();
        }

        await app.StartAsync();
        _app = app;
        var address = app.Urls.First();
        _port = new Uri(address).Port;
    }

    /// <summary>Stops listening and ends every open watch, like an API server going away. The data is kept.</summary>
    public async Task StopAsync()
    {
        var app = _app;
        _app = null;
        await _stopping.CancelAsync();
        Store.DropWatches();
        if (app is not null)
        {
            using var stopTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await app.StopAsync(stopTimeout.Token);
            await app.DisposeAsync();
        }
    }

    /// <summary>Answers matching requests with <c>status</c> (e.g. 500 or 429) until cleared with null.</summary>
    public void FailRequests(Func<HttpRequest, int?>? fault) => Volatile.Write(ref _fault, fault);

    /// <summary>Matching requests are never answered (until the client gives up or the server stops), like a wedged connection.</summary>
    public void HangRequests(Func<HttpRequest, bool>? hang) => Volatile.Write(ref _hang, hang);

    /// <summary>Matching watches get their response headers, then nothing at all: no events, no bookmarks, no end.</summary>
    public void StallWatches(Func<HttpRequest, bool>? stall) => Volatile.Write(ref _stall, stall);

    /// <summary>Requests held by <see cref="HangRequests"/> right now.</summary>
    public int HangingRequests => Volatile.Read(ref _hanging);

    /// <summary>Watches held silent by <see cref="StallWatches"/> right now.</summary>
    public int StalledWatches => Volatile.Read(ref _stalled);

    public KubernetesClientConfiguration CreateClientConfiguration() => new() { Host = BaseUri.ToString().TrimEnd('/'), Namespace = "default" };

    /// <summary>A kubeconfig file's text pointing at this server.</summary>
    public string CreateKubeconfig() => $"""
        apiVersion: v1
        kind: Config
        clusters:
        - name: fake
          cluster:
            server: {BaseUri.ToString().TrimEnd('/')}
        users:
        - name: fake
          user:
            token: fake-token
        contexts:
        - name: fake
          context:
            cluster: fake
            user: fake
            namespace: default
        current-context: fake
        """;

    public int CountRequests(string method, string plural, string? subresource = null) =>
        _requests.Count(r => r.Method == method && r.Plural == plural && r.Subresource == subresource && !r.Watch);

    public void ClearRequestLog() => _requests.Clear();

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _stopping.Dispose();
    }

    private async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        var route = ParseRoute(request.Path.Value ?? "/");
        var watch = IsTrue(request.Query["watch"]);
        var status = 0;
        try
        {
            if (Volatile.Read(ref _fault)?.Invoke(request) is { } injected)
            {
                status = injected;
                await WriteAsync(context, FakeApiResult.Status(injected, "InternalError", "injected fault"));
                return;
            }

            if (Volatile.Read(ref _hang)?.Invoke(request) == true)
            {
                await HoldAsync(context, sendHeaders: false);
                return;
            }

            if (request.Method == "POST" && request.Path.Value is "/apis/authentication.k8s.io/v1/tokenreviews" or "/apis/authorization.k8s.io/v1/subjectaccessreviews")
            {
                var review = await ReadObjectAsync(request);
                var answer = review is null ? BadBody()
                    : request.Path.Value!.EndsWith("tokenreviews", StringComparison.Ordinal) ? AccessReviews.TokenReview(review) : AccessReviews.SubjectAccessReview(review);
                status = answer.StatusCode;
                await WriteAsync(context, answer);
                return;
            }

            if (route is null)
            {
                status = 404;
                await WriteAsync(context, FakeApiResult.Status(404, "NotFound", "the server could not find the requested resource"));
                return;
            }

            if (watch && route.Name is null && request.Method == "GET" && Volatile.Read(ref _stall)?.Invoke(request) == true)
            {
                status = 200;
                await HoldAsync(context, sendHeaders: true);
                return;
            }

            if (watch && route.Name is null && request.Method == "GET")
            {
                status = 200;
                await StreamWatchAsync(context, route);
                return;
            }

            var result = await DispatchAsync(request, route);
            status = result.StatusCode;
            await WriteAsync(context, result);
        }
        finally
        {
            _requests.Enqueue(new FakeApiRequest(request.Method, request.Path.Value ?? "", request.QueryString.Value ?? "", status, route?.Type.Plural, route?.Subresource, watch));
        }
    }

    private async Task HoldAsync(HttpContext context, bool sendHeaders)
    {
        Interlocked.Increment(ref sendHeaders ? ref _stalled : ref _hanging);
        try
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, _stopping.Token);
            if (sendHeaders)
            {
                context.Response.StatusCode = 200;
                context.Response.ContentType = "application/json";
                await context.Response.StartAsync(linked.Token);
                await context.Response.Body.FlushAsync(linked.Token);
            }

            await Task.Delay(Timeout.Infinite, linked.Token);
        }
        catch (OperationCanceledException)
        {
            // The client gave up (its timeout fired) or the server stops.
        }
        finally
        {
            Interlocked.Decrement(ref sendHeaders ? ref _stalled : ref _hanging);
            context.Abort();
        }
    }

    private async Task<FakeApiResult> DispatchAsync(HttpRequest request, Route route)
    {
        var store = Store;
        var ns = route.Namespace ?? "";
        if (route.Name is null)
        {
            return request.Method switch
            {
                "GET" => store.List(route.Type, route.Namespace, request.Query["labelSelector"]),
                "POST" when route.Type.Namespaced && route.Namespace is null => FakeApiResult.Status(405, "MethodNotAllowed", "create needs a namespace"),
                "POST" => await ReadObjectAsync(request) is { } body ? store.Create(route.Type, ns, body, FieldManager(request)) : BadBody(),
                _ => FakeApiResult.Status(405, "MethodNotAllowed", $"{request.Method} is not supported on a collection"),
            };
        }

        var status = route.Subresource == "status";
        if (route.Subresource is not null && !status)
        {
            return FakeApiResult.Status(404, "NotFound", $"subresource {route.Subresource} not found");
        }

        if (status && !route.Type.HasStatusSubresource)
        {
            return FakeApiResult.Status(404, "NotFound", $"{route.Type.Plural} has no status subresource");
        }

        switch (request.Method)
        {
            case "GET":
                return store.Get(route.Type, ns, route.Name);
            case "PUT":
                {
                    var body = await ReadObjectAsync(request);
                    return body is null ? BadBody() : store.Replace(route.Type, ns, route.Name, body, status, FieldManager(request));
                }

            case "PATCH":
                {
                    var contentType = request.ContentType ?? "";
                    if (contentType.StartsWith("application/apply-patch+yaml", StringComparison.Ordinal))
                    {
                        // YAML is a superset of JSON; like kubectl and client-go's typed appliers we only send JSON.
                        var applied = await ReadObjectAsync(request);
                        if (status)
                        {
                            return FakeApiResult.Status(415, "UnsupportedMediaType", "the fake API server does not apply the status subresource");
                        }

                        return applied is null
                            ? BadBody()
                            : store.Apply(route.Type, ns, route.Name, applied, FieldManager(request) ?? "", IsTrue(request.Query["force"]));
                    }

                    if (!contentType.StartsWith("application/merge-patch+json", StringComparison.Ordinal)
                        && !contentType.StartsWith("application/strategic-merge-patch+json", StringComparison.Ordinal))
                    {
                        return FakeApiResult.Status(415, "UnsupportedMediaType", $"the fake API server does not support patch type {contentType}");
                    }

                    var patch = await ReadObjectAsync(request);
                    return patch is null ? BadBody() : store.Patch(route.Type, ns, route.Name, patch, status, FieldManager(request));
                }

            case "DELETE" when !status:
                return store.Delete(route.Type, ns, route.Name);
            default:
                return FakeApiResult.Status(405, "MethodNotAllowed", $"{request.Method} is not supported");
        }
    }

    private async Task StreamWatchAsync(HttpContext context, Route route)
    {
        var query = context.Request.Query;
        var watch = Store.Watch(route.Type, route.Namespace, query["resourceVersion"], query["labelSelector"], IsTrue(query["allowWatchBookmarks"]));
        CancellationTokenSource? timeout = null;
        if (int.TryParse(query["timeoutSeconds"], NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) && seconds > 0)
        {
            timeout = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        }

        using var linked = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, _stopping.Token, timeout?.Token ?? CancellationToken.None);
        try
        {
            context.Response.StatusCode = 200;
            context.Response.ContentType = "application/json";
            await context.Response.StartAsync(linked.Token);
            await foreach (var line in watch.Lines.ReadAllAsync(linked.Token))
            {
                await context.Response.WriteAsync(line + "\n", Encoding.UTF8, linked.Token);
                if (!watch.Lines.TryPeek(out _))
                {
                    await context.Response.Body.FlushAsync(linked.Token);
                }
            }
        }
        catch (OperationCanceledException) when (linked.IsCancellationRequested)
        {
            // Timeout, client gone or server stopping: the watch simply ends, as on a real API server.
        }
        finally
        {
            watch.Close();
            timeout?.Dispose();
            if (_stopping.IsCancellationRequested)
            {
                context.Abort();
            }
        }
    }

    private Route? ParseRoute(string path)
    {
        var segments = path.Trim('/').Split('/');
        string group;
        string version;
        int rest;
        if (segments.Length >= 2 && segments[0] == "api")
        {
            (group, version, rest) = ("", segments[1], 2);
        }
        else if (segments.Length >= 3 && segments[0] == "apis")
        {
            (group, version, rest) = (segments[1], segments[2], 3);
        }
        else
        {
            return null;
        }

        var tail = segments[rest..];
        if (tail.Length >= 3 && tail[0] == "namespaces" && Store.FindType(group, version, tail[2]) is { Namespaced: true } namespacedType)
        {
            return tail.Length switch
            {
                3 => new Route(namespacedType, tail[1], null, null),
                4 => new Route(namespacedType, tail[1], tail[3], null),
                5 => new Route(namespacedType, tail[1], tail[3], tail[4]),
                _ => null,
            };
        }

        if (tail.Length is >= 1 and <= 3 && Store.FindType(group, version, tail[0]) is { } type)
        {
            if (type.Namespaced && tail.Length > 1)
            {
                return null;
            }

            return new Route(type, null, tail.Length > 1 ? tail[1] : null, tail.Length > 2 ? tail[2] : null);
        }

        return null;
    }

    private static async Task<JsonObject?> ReadObjectAsync(HttpRequest request)
    {
        try
        {
            return await JsonNode.ParseAsync(request.Body) as JsonObject;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string? FieldManager(HttpRequest request) => request.Query["fieldManager"] is { Count: > 0 } manager ? manager.ToString() : null;

    private static FakeApiResult BadBody() => FakeApiResult.Status(400, "BadRequest", "the body is not a JSON object");

    private static async Task WriteAsync(HttpContext context, FakeApiResult result)
    {
        context.Response.StatusCode = result.StatusCode;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(result.Body.ToJsonString());
    }

    private static bool IsTrue(string? value) => value is "true" or "1";

    private sealed record Route(FakeResourceType Type, string? Namespace, string? Name, string? Subresource);
}
