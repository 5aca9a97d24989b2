using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.Versioning;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Waypoint.Agent;
using Waypoint.Agent.Ca;
using Waypoint.Box;

namespace Waypoint.TestKit.Box;

/// <summary>A workload's credentials for the box's real istiod (namespace, ServiceAccount, istio-ca token, mesh root).</summary>
/// <param name="TokenPath">A TokenRequest token of audience <c>istio-ca</c>, 1 h.</param>
/// <param name="RootPath">The <c>root-cert.pem</c> istiod wrote into the namespace's <c>istio-ca-root-cert</c>.</param>
public sealed record RealIstiodWorkload(string Namespace, string ServiceAccount, string TokenPath, string RootPath)
{
    public string Identity => $"spiffe://cluster.local/ns/{Namespace}/sa/{ServiceAccount}";
}

/// <summary>
/// The box's real istiod from the test process: its CA reached inside the box's network namespace, workloads made for
/// it, and its process paused (an outage: it accepts connections and answers nothing) or restarted (the box starts it
/// again, as its Deployment would).
/// </summary>
[SupportedOSPlatform("linux")]
public static class RealIstiod
{
    public const string CaAddress = "istiod.istio-system.svc:15012";

    /// <summary>Dials istiod's CA port inside the box whatever the handler was asked (the TLS name stays <see cref="CaAddress"/>'s host).</summary>
    public static Action<SocketsHttpHandler> ThroughBox(BoxConnection box) =>
        handler => handler.ConnectCallback = async (_, ct) =>
            new NetworkStream(await box.Network.ConnectAsync(new IPEndPoint(IPAddress.Loopback, BoxPorts.IstiodSecureGrpc), ct), ownsSocket: true);

    public static IstioCaClient CreateClient(BoxConnection box, RealIstiodWorkload workload) => new(
        Options.Create(new AgentOptions
        {
            TrustDomain = "cluster.local",
            Namespace = workload.Namespace,
            ServiceAccount = workload.ServiceAccount,
            CaAddress = CaAddress,
            RootCertPath = workload.RootPath,
            TokenPath = workload.TokenPath,
        }),
        NullLogger<IstioCaClient>.Instance,
        ThroughBox(box));

    /// <summary>Creates the namespace and ServiceAccount if missing, writes a token and the root istiod publishes into <paramref name="directory"/>.</summary>
    public static async Task<RealIstiodWorkload> PrepareWorkloadAsync(k8s.Kubernetes admin, string ns, string serviceAccount, string directory, CancellationToken cancellationToken)
    {
        await IgnoreConflictAsync(() => admin.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = ns } }, cancellationToken: cancellationToken));
        await IgnoreConflictAsync(() => admin.CoreV1.CreateNamespacedServiceAccountAsync(new V1ServiceAccount { Metadata = new V1ObjectMeta { Name = serviceAccount } }, ns, cancellationToken: cancellationToken));
        var token = await admin.CoreV1.CreateNamespacedServiceAccountTokenAsync(
            new Authenticationv1TokenRequest { Spec = new V1TokenRequestSpec { Audiences = ["istio-ca"], ExpirationSeconds = 3600 } },
            serviceAccount,
            ns,
            cancellationToken: cancellationToken);
        var tokenPath = Path.Combine(directory, $"{ns}~{serviceAccount}-istio-token");
        await File.WriteAllTextAsync(tokenPath, token.Status.Token, cancellationToken);

        string? root = null;
        while (root is null)
        {
            try
            {
                var configMap = await admin.CoreV1.ReadNamespacedConfigMapAsync("istio-ca-root-cert", ns, cancellationToken: cancellationToken);
                root = configMap.Data?.TryGetValue("root-cert.pem", out var pem) == true ? pem : null;
            }
            catch (HttpOperationException ex) when (ex.Response.StatusCode == HttpStatusCode.NotFound)
            {
                // istiod writes it shortly after the namespace appears; this waits on the real istiod, bounded by the token.
            }

            if (root is null)
            {
                await Task.Delay(100, cancellationToken);
            }
        }

        var rootPath = Path.Combine(directory, $"{ns}-root-cert.pem");
        await File.WriteAllTextAsync(rootPath, root, cancellationToken);
        return new RealIstiodWorkload(ns, serviceAccount, tokenPath, rootPath);
    }

    /// <summary>istiod's pid, from the box's state file (it changes when the box restarts istiod).</summary>
    public static async Task<int> ProcessIdAsync(BoxProcess box, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(box);
        var state = await BoxState.ReadAsync(box.StatePath, cancellationToken);
        return state.Components.Single(c => c.Name == "istiod").ProcessId;
    }

    /// <summary>Sends <paramref name="signal"/> (<c>STOP</c>, <c>CONT</c>, <c>TERM</c>) to istiod.</summary>
    public static async Task SignalAsync(int processId, string signal, CancellationToken cancellationToken)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill") { ArgumentList = { "-" + signal, processId.ToString(System.Globalization.CultureInfo.InvariantCulture) } })
            ?? throw new InvalidOperationException("kill could not be started.");
        await kill.WaitForExitAsync(cancellationToken);
        if (kill.ExitCode != 0)
        {
            throw new InvalidOperationException($"kill -{signal} {processId} exited with {kill.ExitCode}.");
        }
    }

    /// <summary>SIGTERM to istiod, then the box's restart: returns the new pid once the state file names it.</summary>
    public static async Task<int> RestartAsync(BoxProcess box, CancellationToken cancellationToken)
    {
        var old = await ProcessIdAsync(box, cancellationToken);
        await SignalAsync(old, "TERM", cancellationToken);
        while (true)
        {
            var current = await ProcessIdAsync(box, cancellationToken);
            if (current != old)
            {
                return current;
            }

            await Task.Delay(100, cancellationToken);
        }
    }

    private static async Task IgnoreConflictAsync<T>(Func<Task<T>> create)
    {
        try
        {
            await create();
        }
        catch (HttpOperationException ex) when (ex.Response.StatusCode == HttpStatusCode.Conflict)
        {
        }
    }
}
