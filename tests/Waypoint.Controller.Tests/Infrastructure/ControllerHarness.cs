using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Waypoint.Controller.Client;
using Waypoint.TestKit.Kubernetes;
using Xunit.Abstractions;

namespace Waypoint.Controller.Tests.Infrastructure;

/// <summary>A fake API server plus any number of controller replicas against it.</summary>
internal sealed class ControllerHarness : IAsyncDisposable
{
    public const string ControllerName = "waypoint.dev/controller";
    private readonly ITestOutputHelper? _output;
    private readonly List<Replica> _replicas = [];

    private ControllerHarness(FakeKubernetesApiServer server, ITestOutputHelper? output)
    {
        Server = server;
        _output = output;
    }

    public FakeKubernetesApiServer Server { get; }

    public FakeResourceStore Store => Server.Store;

    public static async Task<ControllerHarness> StartAsync(ITestOutputHelper? output, IEnumerable<FakeResourceType>? types = null)
    {
        var server = await FakeKubernetesApiServer.StartNewAsync(types);
        return new ControllerHarness(server, output);
    }

    public async Task<Replica> StartReplicaAsync(
        string identity = "replica-a",
        Action<WaypointControllerOptions>? configure = null,
        bool waitForStart = true,
        IWaypointConfigPublisher? publisher = null,
        Waypoint.Xds.Diagnostics.XdsServerStatus? xdsStatus = null,
        Func<Waypoint.Translator.TranslatorOptions, Waypoint.Translator.TranslatorOptions>? configureTranslator = null,
        TimeSpan? requestTimeout = null)
    {
        var options = new WaypointControllerOptions
        {
            Namespace = "waypoint-system",
            ControllerName = ControllerName,
            Debounce = TimeSpan.FromMilliseconds(20),
            MaxDebounce = TimeSpan.FromMilliseconds(200),
            LeaderElection = new LeaderElectionOptions
            {
                Identity = identity,
                LeaseDuration = TimeSpan.FromSeconds(3),
                RenewDeadline = TimeSpan.FromSeconds(2),
                RetryPeriod = TimeSpan.FromMilliseconds(200),
            },
        };
        configure?.Invoke(options);
        var logs = new XunitLoggerProvider(_output);
        var loggerFactory = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Debug));
        var recording = new RecordingPublisher(publisher);
        var client = new KubernetesApiClient(Server.CreateClientConfiguration(), requestTimeout ?? KubernetesApiClient.DefaultRequestTimeout, TimeProvider.System);
        var informerOptions = new InformerOptions
        {
            InitialBackoff = TimeSpan.FromMilliseconds(20),
            MaxBackoff = TimeSpan.FromMilliseconds(500),
            NotServedRetry = TimeSpan.FromMilliseconds(200),
        };
        var lifetime = new RecordingLifetime();
        var controller = new WaypointController(client, Options.Create(options), recording, TimeProvider.System, loggerFactory, informerOptions, xdsStatus, configureTranslator, lifetime);
        var replica = new Replica(identity, controller, recording, logs, loggerFactory, client, lifetime);
        _replicas.Add(replica);
        await controller.StartAsync(CancellationToken.None);
        if (waitForStart)
        {
            await controller.Started.WaitAsync(TimeSpan.FromSeconds(20));
        }

        return replica;
    }

    public JsonObject Create(FakeResourceType type, string json)
    {
        var body = JsonNode.Parse(json)!.AsObject();
        var ns = body["metadata"]?["namespace"]?.GetValue<string>() ?? (type.Namespaced ? "default" : "");
        var result = Store.Create(type, ns, body);
        Assert.True(result.IsSuccess, result.Body.ToJsonString());
        return result.Body.AsObject();
    }

    public JsonObject? Get(FakeResourceType type, string ns, string name)
    {
        var result = Store.Get(type, type.Namespaced ? ns : "", name);
        return result.IsSuccess ? result.Body.AsObject() : null;
    }

    public JsonObject Patch(FakeResourceType type, string ns, string name, string patch, bool status = false)
    {
        var result = Store.Patch(type, type.Namespaced ? ns : "", name, JsonNode.Parse(patch)!, status);
        Assert.True(result.IsSuccess, result.Body.ToJsonString());
        return result.Body.AsObject();
    }

    public void Delete(FakeResourceType type, string ns, string name)
    {
        var result = Store.Delete(type, type.Namespaced ? ns : "", name);
        Assert.True(result.IsSuccess, result.Body.ToJsonString());
    }

    public static string? Condition(JsonNode? obj, string type, string field = "status") =>
        (obj?["status"]?["conditions"] as JsonArray)?.FirstOrDefault(c => c?["type"]?.GetValue<string>() == type)?[field]?.GetValue<string>();

    public async ValueTask DisposeAsync()
    {
        foreach (var replica in _replicas)
        {
            await replica.DisposeAsync();
        }

        await Server.DisposeAsync();
    }

    internal sealed class Replica(string identity, WaypointController controller, RecordingPublisher publisher, XunitLoggerProvider logs, ILoggerFactory loggerFactory, KubernetesApiClient client, RecordingLifetime lifetime) : IAsyncDisposable
    {
        /// <summary>Records whether the controller asked the host to stop (crash-only).</summary>
        public RecordingLifetime Lifetime { get; } = lifetime;

        private bool _stopped;

        public string Identity { get; } = identity;

        public WaypointController Controller { get; } = controller;

        public RecordingPublisher Publisher { get; } = publisher;

        public XunitLoggerProvider Logs { get; } = logs;

        public ILoggerFactory LoggerFactory { get; } = loggerFactory;

        public async Task StopAsync()
        {
            if (_stopped)
            {
                return;
            }

            _stopped = true;
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await Controller.StopAsync(timeout.Token);
        }

        public async ValueTask DisposeAsync()
        {
            await StopAsync();
            Controller.Dispose();
            client.Dispose();
            LoggerFactory.Dispose();
        }
    }
}

/// <summary>Records every update, then hands it on (e.g. to the real xDS publisher).</summary>
internal sealed class RecordingPublisher(IWaypointConfigPublisher? next = null) : IWaypointConfigPublisher
{
    private readonly System.Collections.Concurrent.ConcurrentQueue<WaypointConfigUpdate> _updates = new();

    public IReadOnlyCollection<WaypointConfigUpdate> Updates => _updates.ToArray();

    public WaypointConfigUpdate? Latest => _updates.LastOrDefault();

    public ValueTask PublishAsync(WaypointConfigUpdate update, CancellationToken cancellationToken)
    {
        _updates.Enqueue(update);
        return next?.PublishAsync(update, cancellationToken) ?? ValueTask.CompletedTask;
    }
}

/// <summary>A host lifetime that records <see cref="StopApplication"/> instead of stopping anything.</summary>
internal sealed class RecordingLifetime : Microsoft.Extensions.Hosting.IHostApplicationLifetime
{
    private readonly TaskCompletionSource _stopRequested = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public CancellationToken ApplicationStarted => CancellationToken.None;

    public CancellationToken ApplicationStopping => CancellationToken.None;

    public CancellationToken ApplicationStopped => CancellationToken.None;

    public Task StopRequested => _stopRequested.Task;

    public void StopApplication() => _stopRequested.TrySetResult();
}
