using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Waypoint.TestKit.Envoy;
using Waypoint.TestKit.Xds;
using Waypoint.Translator.Model;
using Waypoint.Xds;
using Waypoint.Xds.Bootstrap;

namespace Waypoint.Translator.Tests.Acceptance;

/// <summary>
/// A real waypoint Envoy fed the translator's own encodings from the real xDS server (as the controller publishes
/// them), with the bootstrap the product generates, plus a second Envoy in the client ztunnel's role: a plain TCP
/// listener per service VIP:port, tunnelled as HTTP/2 CONNECT (<c>:authority</c> = VIP:port) over mTLS to the
/// waypoint's <c>connect_terminate</c>. Requests thus take the production path: HBONE, <c>main_internal</c>, the
/// service's chain and routes (RDS), the service cluster (plain endpoints on loopback).
/// </summary>
internal sealed class WaypointEnvoyHarness : IAsyncDisposable
{
    private const string Group = "waypoint.app";
    private readonly TestSdsServer _sds;
    private readonly TestXdsServer _xds;
    private readonly Dictionary<HboneTarget, int> _clientPorts;
    private int _connections;

    private readonly WaypointTranslator _translator;

    private WaypointEnvoyHarness(WaypointTranslator translator, TestSdsServer sds, TestXdsServer xds, EnvoyProcess waypoint, EnvoyProcess client, string nodeId, Dictionary<HboneTarget, int> clientPorts)
    {
        _translator = translator;
        _sds = sds;
        _xds = xds;
        Waypoint = waypoint;
        Client = client;
        NodeId = nodeId;
        _clientPorts = clientPorts;
    }

    public EnvoyProcess Waypoint { get; }

    public EnvoyProcess Client { get; }

    public string NodeId { get; }

    public TestXdsServer Xds => _xds;

    /// <summary>TCP connections the clients of <see cref="CreateHttpClient"/> opened to the client ztunnel.</summary>
    public int Connections => Volatile.Read(ref _connections);

    /// <summary>Starts both Envoys and serves the translation of <paramref name="snapshot"/>, waiting until it is ACKed.</summary>
    /// <param name="snapshot">Must bind the waypoint <c>app/waypoint</c>.</param>
    /// <param name="targets">The VIP:port authorities the client ztunnel tunnels to (one local listener each).</param>
    public static Task<(WaypointEnvoyHarness Harness, TranslationResult Translation)> StartAsync(ClusterSnapshot snapshot, params string[] targets) =>
        StartAsync(snapshot, XdsProtocol.StateOfTheWorld, targets);

    /// <param name="snapshot">Must bind the waypoint <c>app/waypoint</c>.</param>
    /// <param name="protocol">The waypoint Envoy's ADS flavour.</param>
    /// <param name="targets">The VIP:port authorities the client ztunnel tunnels to (one local listener each).</param>
    public static Task<(WaypointEnvoyHarness Harness, TranslationResult Translation)> StartAsync(ClusterSnapshot snapshot, XdsProtocol protocol, params string[] targets)
    {
        ArgumentNullException.ThrowIfNull(targets);
        return StartAsync(snapshot, protocol, targets.Select(t => new HboneTarget(t)).ToArray());
    }

    /// <param name="snapshot">Must bind the waypoint <c>app/waypoint</c>.</param>
    /// <param name="protocol">The waypoint Envoy's ADS flavour.</param>
    /// <param name="targets">
    /// The VIP:port authorities the client ztunnel tunnels to, each for one client identity (its own SPIFFE certificate
    /// on the HBONE connection, as ztunnel presents the source workload's): one local listener each.
    /// </param>
    public static Task<(WaypointEnvoyHarness Harness, TranslationResult Translation)> StartAsync(ClusterSnapshot snapshot, XdsProtocol protocol, params HboneTarget[] targets) =>
        StartAsync(snapshot, new TranslatorOptions { HboneBindAddress = "127.0.0.1", HboneBindPort = 0 }, protocol, targets);

    /// <param name="snapshot">Must bind the waypoint <c>app/waypoint</c>.</param>
    /// <param name="translatorOptions">The translator's settings (HBONE must bind 127.0.0.1, port 0).</param>
    /// <param name="protocol">The waypoint Envoy's ADS flavour.</param>
    /// <param name="targets">The VIP:port authorities the client ztunnel tunnels to, each with its client identity.</param>
    public static async Task<(WaypointEnvoyHarness Harness, TranslationResult Translation)> StartAsync(ClusterSnapshot snapshot, TranslatorOptions translatorOptions, XdsProtocol protocol, params HboneTarget[] targets)
    {
        ArgumentNullException.ThrowIfNull(targets);
        var sds = await TestSdsServer.StartAsync("spiffe://cluster.local/ns/app/sa/waypoint");
        var xds = await TestXdsServer.StartAsync();
        EnvoyProcess? waypoint = null;
        try
        {
            var nodeId = $"{Group}~{Guid.NewGuid():N}";
            var bootstrap = xds.CreateBootstrapOptions(Group, nodeId, protocol) with { IncludeSdsCluster = true, SdsSocketPath = sds.SocketPath };
            waypoint = await EnvoyProcess.StartAsync(EnvoyBootstrapBuilder.RenderJson(EnvoyBootstrapBuilder.Build(bootstrap)), new EnvoyStartOptions { WaitForReady = false });
            var translator = new WaypointTranslator(translatorOptions);
            var translation = translator.Translate(snapshot);
            Publish(xds, translation);
            await WaitUntilAckedAsync(xds, waypoint, nodeId);
            await waypoint.WaitUntilAsync(async ct => await waypoint.GetStatValueAsync("listener_manager.workers_started", ct) == 1, TimeSpan.FromSeconds(20), "waypoint workers started");
            var hbonePort = await waypoint.GetListenerPortAsync("connect_terminate");

            var client = await EnvoyProcess.StartAsync(ClientBootstrap(sds, hbonePort, targets), new EnvoyStartOptions { WaitForReady = true });
            var ports = new Dictionary<HboneTarget, int>();
            for (var i = 0; i < targets.Length; i++)
            {
                ports[targets[i]] = await client.GetListenerPortAsync($"to-{i}");
            }

            return (new WaypointEnvoyHarness(translator, sds, xds, waypoint, client, nodeId, ports), translation);
        }
        catch
        {
            if (waypoint is not null)
            {
                await waypoint.DisposeAsync();
            }

            await xds.DisposeAsync();
            await sds.DisposeAsync();
            throw;
        }
    }

    /// <summary>Translates <paramref name="snapshot"/> with the same translator (its caches included), serves it and waits for the ACK.</summary>
    public async Task<TranslationResult> ApplyAsync(ClusterSnapshot snapshot)
    {
        var earlier = XdsTypeUrls.PushOrder.Select(t => (object?)_xds.Status.GetLastNack(NodeId, t)).OfType<object>().ToList();
        var translation = _translator.Translate(snapshot);
        Publish(_xds, translation);
        await WaitUntilAckedAsync(_xds, Waypoint, NodeId, earlier);
        return translation;
    }

    /// <summary>
    /// Translates and serves <paramref name="snapshot"/> as <see cref="ApplyAsync"/> does, expecting Envoy to reject it.
    /// </summary>
    /// <returns>The translation and Envoy's NACK with the resources of the rejected response (as the controller gets it).</returns>
    public async Task<(TranslationResult Translation, Waypoint.Xds.Diagnostics.XdsNackEvent Nack)> ApplyRejectedAsync(ClusterSnapshot snapshot)
    {
        var nacked = new TaskCompletionSource<Waypoint.Xds.Diagnostics.XdsNackEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnNack(Waypoint.Xds.Diagnostics.XdsNackEvent nack) => nacked.TrySetResult(nack);
        _xds.Status.Nacked += OnNack;
        try
        {
            var translation = _translator.Translate(snapshot);
            Publish(_xds, translation);
            return (translation, await nacked.Task.WaitAsync(TimeSpan.FromSeconds(30)));
        }
        finally
        {
            _xds.Status.Nacked -= OnNack;
        }
    }

    /// <summary>An HTTP/1.1 client whose requests to <c>http://{authority}/…</c> enter the mesh at the client ztunnel; one connection at a time.</summary>
    public HttpClient CreateHttpClient(string authority) => CreateHttpClient(new HboneTarget(authority));

    /// <summary>As <see cref="CreateHttpClient(string)"/>, tunnelled with <paramref name="target"/>'s client identity.</summary>
    public HttpClient CreateHttpClient(HboneTarget target)
    {
        var authority = target.Authority;
        var port = _clientPorts[target];
        var handler = new SocketsHttpHandler
        {
            MaxConnectionsPerServer = 1,
            UseProxy = false,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            ConnectCallback = async (_, ct) =>
            {
                Interlocked.Increment(ref _connections);
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), ct);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        return new HttpClient(handler) { BaseAddress = new Uri($"http://{authority}/"), Timeout = TimeSpan.FromSeconds(30) };
    }

    /// <summary>
    /// A mesh for these tests: waypoint <c>app/waypoint</c> binding the namespace, Service <c>echo</c> (VIP
    /// <see cref="EchoVip"/>, port 80) whose one endpoint is <paramref name="backend"/> (a plain, non-ambient endpoint),
    /// and the given HTTPRoute documents.
    /// </summary>
    /// <param name="parameters">The WaypointParameters (in <c>app</c>, among <paramref name="routes"/>' documents) the Gateway references, if any.</param>
    public static ClusterSnapshot Mesh(IPEndPoint backend, string routes, string? parameters = null) =>
        KubernetesObjectLoader.Load($$$"""
            apiVersion: v1
            kind: Namespace
            metadata: {name: app, labels: {istio.io/use-waypoint: waypoint}}
            ---
            apiVersion: gateway.networking.k8s.io/v1
            kind: GatewayClass
            metadata: {name: kgateway-waypoint}
            spec: {controllerName: waypoint.dev/controller}
            ---
            apiVersion: gateway.networking.k8s.io/v1
            kind: Gateway
            metadata: {name: waypoint, namespace: app, generation: 1}
            spec:
              gatewayClassName: kgateway-waypoint
              listeners: [{name: mesh, port: 15008, protocol: HBONE}]
              {{{(parameters is null ? "" : $"infrastructure: {{parametersRef: {{group: gateway.kgateway.dev, kind: WaypointParameters, name: {parameters}}}}}")}}}
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: echo, namespace: app}
            spec:
              clusterIP: {{{EchoVip}}}
              ports: [{name: http, port: 80, targetPort: {{{backend.Port}}}}]
            ---
            apiVersion: discovery.k8s.io/v1
            kind: EndpointSlice
            metadata: {name: echo-1, namespace: app, labels: {kubernetes.io/service-name: echo}}
            addressType: IPv4
            ports: [{name: http, port: {{{backend.Port}}}}]
            endpoints: [{addresses: ["{{{backend.Address}}}"], conditions: {ready: true}}]
            ---
            {{{routes}}}
            """, "mesh.yaml").ToSnapshot();

    public const string EchoVip = "10.96.0.10";

    public const string EchoAuthority = EchoVip + ":80";

    public async ValueTask DisposeAsync()
    {
        await Client.DisposeAsync();
        await Waypoint.DisposeAsync();
        await _xds.DisposeAsync();
        await _sds.DisposeAsync();
    }

    /// <summary>Publishes as the controller does: the translator's encoded bytes, not a fresh encoding.</summary>
    private static void Publish(TestXdsServer xds, TranslationResult translation)
    {
        var resources = translation.Waypoints[new WaypointKey("app", "waypoint")];
        xds.Cache.SetSnapshot(Group, XdsSnapshot.Create(resources.Encoded.Select(e => XdsResource.FromEncoded(e.TypeUrl, e.Name, e.Parser, e.Bytes))));
    }

    /// <param name="earlier">The NACKs that were already recorded before this publish (an earlier, expected rejection).</param>
    private static async Task WaitUntilAckedAsync(TestXdsServer xds, EnvoyProcess envoy, string nodeId, IReadOnlyCollection<object>? earlier = null)
    {
        await xds.WaitForSnapshotAckedAsync(nodeId, Group, TimeSpan.FromSeconds(30));
        foreach (var type in XdsTypeUrls.PushOrder)
        {
            var nack = xds.Status.GetLastNack(nodeId, type);
            Assert.True(nack is null || earlier?.Contains(nack) == true, $"Envoy NACKed {type}: {nack}\n{envoy.LogTail()}");
        }
    }

    private static string ClientBootstrap(TestSdsServer sds, int hbonePort, HboneTarget[] targets)
    {
        var listeners = new JsonArray();
        var clusters = new JsonArray(ClientCluster("waypoint", hbonePort, sds.CertificatePem, sds.PrivateKeyPem, sds.CaPem));
        var identities = new List<string>();
        for (var i = 0; i < targets.Length; i++)
        {
            var cluster = "waypoint";
            if (targets[i].SpiffeId is { } identity)
            {
                var position = identities.IndexOf(identity);
                if (position < 0)
                {
                    position = identities.Count;
                    identities.Add(identity);
                    var (certificate, key) = sds.IssueCertificate(identity);
                    clusters.Add(ClientCluster($"waypoint-as-{position}", hbonePort, certificate, key, sds.CaPem));
                }

                cluster = $"waypoint-as-{position}";
            }

            var listener = JsonNode.Parse($$"""
                {
                  "name": "to-{{i}}",
                  "address": { "socket_address": { "address": "127.0.0.1", "port_value": 0 } },
                  "filter_chains": [{ "filters": [{ "name": "tcp", "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                    "stat_prefix": "to-{{i}}", "cluster": "{{cluster}}", "tunneling_config": { "hostname": "{{targets[i].Authority}}" } } }] }]
                }
                """)!;
            if (targets[i].Baggage is { } baggage)
            {
                // As ztunnel sends the source workload's peer metadata.
                listener["filter_chains"]![0]!["filters"]![0]!["typed_config"]!["tunneling_config"]!["headers_to_add"] = new JsonArray(
                    new JsonObject { ["header"] = new JsonObject { ["key"] = "baggage", ["value"] = baggage } });
            }

            listeners.Add(listener);
        }

        return new JsonObject
        {
            ["static_resources"] = new JsonObject { ["listeners"] = listeners, ["clusters"] = clusters },
        }.ToJsonString();
    }

    private static JsonNode ClientCluster(string name, int hbonePort, string certificatePem, string privateKeyPem, string caPem)
    {
        var tls = new JsonObject
        {
            ["@type"] = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
            ["common_tls_context"] = new JsonObject
            {
                ["alpn_protocols"] = new JsonArray("h2"),
                ["tls_params"] = new JsonObject { ["tls_minimum_protocol_version"] = "TLSv1_3", ["tls_maximum_protocol_version"] = "TLSv1_3" },
                ["tls_certificates"] = new JsonArray(new JsonObject
                {
                    ["certificate_chain"] = new JsonObject { ["inline_string"] = certificatePem },
                    ["private_key"] = new JsonObject { ["inline_string"] = privateKeyPem },
                }),
                ["validation_context"] = new JsonObject { ["trusted_ca"] = new JsonObject { ["inline_string"] = caPem } },
            },
        };
        var cluster = JsonNode.Parse($$"""
            {
              "name": "{{name}}", "type": "STATIC", "connect_timeout": "5s",
              "load_assignment": { "cluster_name": "{{name}}", "endpoints": [{ "lb_endpoints": [{ "endpoint": { "address": { "socket_address": { "address": "127.0.0.1", "port_value": {{hbonePort}} } } } }] }] },
              "typed_extension_protocol_options": { "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": { "http2_protocol_options": {} } } }
            }
            """)!;
        cluster["transport_socket"] = new JsonObject { ["name"] = "tls", ["typed_config"] = tls };
        return cluster;
    }
}

/// <summary>Where the client ztunnel tunnels to, and as whom.</summary>
/// <param name="Authority">The CONNECT authority, VIP:port.</param>
/// <param name="SpiffeId">The client workload's identity on the HBONE connection; null for the harness's default certificate.</param>
/// <param name="Baggage">The CONNECT's <c>baggage</c> header (ztunnel's peer metadata of the client workload); null for none.</param>
internal sealed record HboneTarget(string Authority, string? SpiffeId = null, string? Baggage = null);
