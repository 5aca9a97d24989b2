using System.Net;
using System.Net.Sockets;
using Waypoint.TestKit.Http;
using Waypoint.Xds;

namespace Waypoint.Translator.Tests.Acceptance;

/// <summary>
/// What the HTTP and gRPC ext_authz Envoy tests share: the mesh config naming the providers, CUSTOM policies on the
/// echo service, a waypoint Envoy serving them, requests carrying the test server's verdict, and a port nothing
/// listens on (a provider that is down).
/// </summary>
internal static class ExtAuthzScenario
{
    public static readonly HboneTarget Target = new(WaypointEnvoyHarness.EchoAuthority, "spiffe://cluster.local/ns/app/sa/client");

    public static string MeshConfig(string providers) => $$"""
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: istio, namespace: istio-system}
        data:
          mesh: |
            extensionProviders:
        {{string.Join('\n', providers.Split('\n').Select(l => "        " + l))}}
        ---

        """;

    public static string Custom(string name, string provider, string path) => $$$"""
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata: {name: {{{name}}}, namespace: app, generation: 1}
        spec:
          targetRefs: [{kind: Service, group: "", name: echo}]
          action: CUSTOM
          provider: {name: {{{provider}}}}
          rules:
          - to: [{operation: {paths: ["{{{path}}}"]}}]
        ---

        """;

    public static Task<(WaypointEnvoyHarness Harness, TranslationResult Translation)> StartAsync(EchoBackend echo, string yaml) =>
        WaypointEnvoyHarness.StartAsync(WaypointEnvoyHarness.Mesh(echo.EndPoint, yaml), XdsProtocol.StateOfTheWorld, Target);

    /// <summary>Sends <paramref name="path"/> through the waypoint; <paramref name="verdict"/> (x-ext-authz) tells the test's server what to answer.</summary>
    public static async Task<HttpResponseMessage> SendAsync(WaypointEnvoyHarness harness, string path, string? verdict = null)
    {
        using var client = harness.CreateHttpClient(Target);
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (verdict is not null)
        {
            request.Headers.Add("x-ext-authz", verdict);
        }

        var response = await client.SendAsync(request);
        await response.Content.LoadIntoBufferAsync();
        return response;
    }

    public static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
