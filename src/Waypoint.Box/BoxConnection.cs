using k8s;
using Waypoint.Box.Apply;
using Waypoint.Box.Network;
using Waypoint.Box.Pki;

namespace Waypoint.Box;

/// <summary>
/// A process outside the box attached to it (<see cref="KubernetesBox.AttachAsync"/>): its state and clients that
/// connect inside its network namespace.
/// </summary>
public sealed class BoxConnection : IDisposable
{
    internal BoxConnection(BoxState state, BoxNetworkNamespace network)
    {
        State = state;
        Network = network;
    }

    public BoxState State { get; }

    /// <summary>Sockets, HTTP clients and KubernetesClient configurations inside the box.</summary>
    public BoxNetworkNamespace Network { get; }

    public Uri ApiServerUrl => new(State.ApiServerUrl);

    /// <summary>A KubernetesClient configuration from a kubeconfig (default: the admin's), connecting inside the box.</summary>
    public KubernetesClientConfiguration CreateKubernetesConfiguration(string? kubeconfigPath = null) =>
        Network.CreateKubernetesConfiguration(kubeconfigPath ?? State.AdminKubeconfigPath);

    /// <summary>A KubernetesClient (default: as the admin, <c>system:masters</c>); its WebSockets (exec) also connect inside the box.</summary>
    public Kubernetes CreateKubernetesClient(string? kubeconfigPath = null) =>
        new(CreateKubernetesConfiguration(kubeconfigPath)) { CreateWebSocketBuilder = () => new BoxWebSocketBuilder(Network) };

    /// <summary>A raw HTTP client of the API server as the admin (<see cref="HttpClient.BaseAddress"/> set), e.g. for <see cref="BoxApplier"/>.</summary>
    public HttpClient CreateAdminHttpClient() =>
        BoxHttp.CreateApiClient(ApiServerUrl, State.CaCertificatePath, Path.Combine(State.PkiDirectory, "admin.crt"), Path.Combine(State.PkiDirectory, "admin.key"), Network);

    /// <summary>A raw HTTP client of the API server presenting a bearer token (e.g. from a TokenRequest).</summary>
    public HttpClient CreateTokenHttpClient(string token)
    {
        var handler = Network.CreateHandler();
        BoxHttp.ConfigureTls(handler, State.CaCertificatePath);
        var client = new HttpClient(handler) { BaseAddress = ApiServerUrl };
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    /// <summary>The box's PKI, to issue more certificates (reads the CA key: root).</summary>
    public BoxPki LoadPki() => BoxPki.Load(State.PkiDirectory);

    public void Dispose() => Network.Dispose();
}
