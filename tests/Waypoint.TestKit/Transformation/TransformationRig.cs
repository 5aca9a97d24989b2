using System.Diagnostics.Metrics;
using Envoy.Config.Bootstrap.V3;
using Envoy.Config.Cluster.V3;
using Envoy.Config.Core.V3;
using Envoy.Config.Endpoint.V3;
using Envoy.Config.Listener.V3;
using Envoy.Config.Route.V3;
using Envoy.Extensions.Filters.Http.Router.V3;
using Envoy.Extensions.Filters.Network.HttpConnectionManager.V3;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Google.Protobuf.WellKnownTypes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using Waypoint.TestKit.Envoy;
using Waypoint.TestKit.Http;
using Waypoint.Transformation.Compilation;
using Waypoint.Transformation.Processing;

namespace Waypoint.TestKit.Transformation;

/// <summary>
/// A real Envoy in front of an <see cref="EchoBackend"/>, with the transformation service hosted exactly as the agent
/// hosts it (AddWaypointTransformation + MapWaypointTransformation on a Unix socket). Routes are built by the test
/// with <see cref="RouteTrafficPolicy.ApplyTo"/>, standing in for the translator.
/// </summary>
public sealed class TransformationRig : IAsyncDisposable
{
    private static readonly TypeRegistry s_types = TypeRegistry.FromFiles(
        BootstrapReflection.Descriptor,
        HttpConnectionManagerReflection.Descriptor,
        RouterReflection.Descriptor,
        global::Envoy.Extensions.Filters.Http.ExtProc.V3.ExtProcReflection.Descriptor,
        global::Envoy.Extensions.Upstreams.Http.V3.HttpProtocolOptionsReflection.Descriptor,
        RouteComponentsReflection.Descriptor,
        global::Envoy.Extensions.Retry.Host.PreviousHosts.V3.PreviousHostsReflection.Descriptor,
        global::Envoy.Extensions.Retry.Host.OmitCanaryHosts.V3.OmitCanaryHostsReflection.Descriptor);

    private readonly WebApplication _service;
    private readonly string _socketDirectory;

    private TransformationRig(EchoBackend backend, WebApplication service, string socketDirectory, EnvoyProcess envoy, HttpClient client, MetricCollector<long> streams)
    {
        Backend = backend;
        _service = service;
        _socketDirectory = socketDirectory;
        Envoy = envoy;
        Client = client;
        Streams = streams;
    }

    public EchoBackend Backend { get; }

    public EnvoyProcess Envoy { get; }

    /// <summary>Talks to Envoy's listener.</summary>
    public HttpClient Client { get; }

    /// <summary>ext_proc streams the transformation service accepted.</summary>
    public MetricCollector<long> Streams { get; }

    /// <summary>Starts the rig; <paramref name="routes"/> maps a path prefix to the policy put on that route.</summary>
    public static async Task<TransformationRig> StartAsync(IReadOnlyList<(string Prefix, RouteTrafficPolicy Policy)> routes, CancellationToken cancellationToken = default) =>
        await StartAsync(routes, new EnvoyStartOptions { LogLevel = "warning" }, cancellationToken);

    public static async Task<TransformationRig> StartAsync(IReadOnlyList<(string Prefix, RouteTrafficPolicy Policy)> routes, EnvoyStartOptions envoyOptions, CancellationToken cancellationToken = default)
    {
        var backend = await EchoBackend.StartAsync("echo", cancellationToken: cancellationToken).ConfigureAwait(false);
        var socketDirectory = Directory.CreateTempSubdirectory("waypoint-xf-").FullName;
        var socketPath = Path.Combine(socketDirectory, "transformation.sock");

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddWaypointTransformation();
        builder.WebHost.ConfigureKestrel(k => k.ListenWaypointTransformation(socketPath));
        var service = builder.Build();
        service.MapWaypointTransformation();
        await service.StartAsync(cancellationToken);
        var streams = new MetricCollector<long>(service.Services.GetRequiredService<IMeterFactory>(), TransformationMetrics.MeterName, "waypoint.transformation.streams");

        var bootstrap = BuildBootstrap(backend.EndPoint.Port, socketPath, routes);
        var envoy = await EnvoyProcess.StartAsync(ToJson(bootstrap), envoyOptions, cancellationToken);
        var port = await envoy.GetListenerPortAsync("main", cancellationToken);
        var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(20) };
        return new TransformationRig(backend, service, socketDirectory, envoy, client, streams);
    }

    public static string ToJson(IMessage message) =>
        new JsonFormatter(JsonFormatter.Settings.Default.WithTypeRegistry(s_types)).Format(message);

    private static Bootstrap BuildBootstrap(int backendPort, string socketPath, IReadOnlyList<(string Prefix, RouteTrafficPolicy Policy)> routes)
    {
        var virtualHost = new VirtualHost { Name = "echo", Domains = { "*" } };
        foreach (var (prefix, policy) in routes)
        {
            var route = new Route
            {
                Name = prefix.Trim('/'),
                Match = new RouteMatch { Prefix = prefix },
                Route_ = new RouteAction { Cluster = "echo" },
            };
            policy.ApplyTo(route);
            virtualHost.Routes.Add(route);
        }

        var hcm = new HttpConnectionManager
        {
            StatPrefix = "main",
            RouteConfig = new RouteConfiguration { Name = "main", VirtualHosts = { virtualHost } },
            HttpFilters =
            {
                TransformationEnvoyConfig.CreateHttpFilter(),
                new HttpFilter { Name = "envoy.filters.http.router", TypedConfig = Any.Pack(new Router()) },
            },
        };

        return new Bootstrap
        {
            StaticResources = new Bootstrap.Types.StaticResources
            {
                Listeners =
                {
                    new Listener
                    {
                        Name = "main",
                        Address = new Address { SocketAddress = new SocketAddress { Address = "127.0.0.1", PortValue = 0 } },
                        FilterChains =
                        {
                            new FilterChain
                            {
                                Filters = { new global::Envoy.Config.Listener.V3.Filter { Name = "envoy.filters.network.http_connection_manager", TypedConfig = Any.Pack(hcm) } },
                            },
                        },
                    },
                },
                Clusters =
                {
                    new Cluster
                    {
                        Name = "echo",
                        Type = Cluster.Types.DiscoveryType.Static,
                        ConnectTimeout = Duration.FromTimeSpan(TimeSpan.FromSeconds(1)),
                        LoadAssignment = new ClusterLoadAssignment
                        {
                            ClusterName = "echo",
                            Endpoints =
                            {
                                new LocalityLbEndpoints
                                {
                                    LbEndpoints =
                                    {
                                        new LbEndpoint
                                        {
                                            Endpoint = new Endpoint
                                            {
                                                Address = new Address { SocketAddress = new SocketAddress { Address = "127.0.0.1", PortValue = (uint)backendPort } },
                                            },
                                        },
                                    },
                                },
                            },
                        },
                    },
                    TransformationEnvoyConfig.CreateCluster(socketPath),
                },
            },
        };
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await Envoy.DisposeAsync();
        Streams.Dispose();
        await _service.StopAsync();
        await _service.DisposeAsync();
        await Backend.DisposeAsync();
        try
        {
            Directory.Delete(_socketDirectory, recursive: true);
        }
        catch (IOException)
        {
            // The socket may still be held briefly; a temp directory is harmless.
        }
    }
}
