using System.Collections.Concurrent;
using System.Net;
using Envoy.Config.Core.V3;
using Envoy.Service.Auth.V3;
using HttpStatus = Envoy.Type.V3.HttpStatus;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RpcStatus = Google.Rpc.Status;

namespace Waypoint.TestKit.Authorization;

/// <summary>
/// An ext_authz server of Envoy's gRPC protocol (<c>envoy.service.auth.v3.Authorization/Check</c>), h2c on loopback.
/// The verdict comes from the checked request's <c>x-ext-authz</c> header:
/// <list type="bullet">
/// <item><c>allow</c>: OK, adding <c>x-user: alice</c> to the upstream request and <c>x-ext-authz-allowed: yes</c> to the response;</item>
/// <item><c>hang</c>: no answer until Envoy gives up (its timeout cancels the call);</item>
/// <item>anything else: PERMISSION_DENIED with status 401, header <c>x-ext-authz-check-result: denied</c> and body <see cref="DeniedBody"/>.</item>
/// </list>
/// </summary>
public sealed class ExtAuthzGrpcServer : IAsyncDisposable
{
    public const string DeniedBody = "denied by the test's gRPC ext_authz";

    private readonly WebApplication _app;
    private readonly ConcurrentQueue<ExtAuthzCheck> _checks = new();
    private int _cancelled;

    private ExtAuthzGrpcServer(WebApplication app) => _app = app;

    public IPEndPoint EndPoint { get; private set; } = null!;

    /// <summary>The checks received, in order.</summary>
    public IReadOnlyList<ExtAuthzCheck> Checks => _checks.ToArray();

    /// <summary>Checks the caller abandoned before an answer (Envoy's timeout).</summary>
    public int Cancelled => Volatile.Read(ref _cancelled);

    public static async Task<ExtAuthzGrpcServer> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, o => o.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();
        var owner = new CheckServiceOwner();
        builder.Services.AddSingleton(owner);
        var app = builder.Build();
        var server = new ExtAuthzGrpcServer(app);
        owner.Server = server;
        app.MapGrpcService<CheckService>();
        await app.StartAsync().ConfigureAwait(false);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        server.EndPoint = new IPEndPoint(IPAddress.Loopback, new Uri(address).Port);
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }

    private async Task<CheckResponse> CheckAsync(CheckRequest request, ServerCallContext context)
    {
        var http = request.Attributes?.Request?.Http ?? new AttributeContext.Types.HttpRequest();
        _checks.Enqueue(new ExtAuthzCheck(http.Method, http.Path, new Dictionary<string, string>(http.Headers, StringComparer.Ordinal)));
        var verdict = http.Headers.TryGetValue("x-ext-authz", out var value) ? value : "";
        switch (verdict)
        {
            case "allow":
                return new CheckResponse
                {
                    Status = new RpcStatus { Code = (int)Grpc.Core.StatusCode.OK },
                    OkResponse = new OkHttpResponse
                    {
                        Headers = { new HeaderValueOption { Header = new HeaderValue { Key = "x-user", Value = "alice" } } },
                        ResponseHeadersToAdd = { new HeaderValueOption { Header = new HeaderValue { Key = "x-ext-authz-allowed", Value = "yes" } } },
                    },
                };
            case "hang":
                try
                {
                    await Task.Delay(Timeout.Infinite, context.CancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    Interlocked.Increment(ref _cancelled);
                }

                throw new RpcException(new Grpc.Core.Status(Grpc.Core.StatusCode.Cancelled, "the caller gave up"));
            default:
                return new CheckResponse
                {
                    Status = new RpcStatus { Code = (int)Grpc.Core.StatusCode.PermissionDenied },
                    DeniedResponse = new DeniedHttpResponse
                    {
                        Status = new HttpStatus { Code = global::Envoy.Type.V3.StatusCode.Unauthorized },
                        Headers = { new HeaderValueOption { Header = new HeaderValue { Key = "x-ext-authz-check-result", Value = "denied" } } },
                        Body = DeniedBody,
                    },
                };
        }
    }

    /// <summary>Lets the gRPC service (created by DI per call) reach its server.</summary>
    private sealed class CheckServiceOwner
    {
        public ExtAuthzGrpcServer? Server { get; set; }
    }

    private sealed class CheckService(CheckServiceOwner owner) : global::Envoy.Service.Auth.V3.Authorization.AuthorizationBase
    {
        public override Task<CheckResponse> Check(CheckRequest request, ServerCallContext context) => owner.Server!.CheckAsync(request, context);
    }
}

/// <summary>One check an ext_authz server received: the request's method, path (with query) and the headers Envoy sent.</summary>
public sealed record ExtAuthzCheck(string Method, string Path, IReadOnlyDictionary<string, string> Headers);
