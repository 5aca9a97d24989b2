using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using k8s;

namespace Waypoint.Box.Network;

/// <summary>
/// Opens sockets inside the box's network namespace from a process outside it (a test, the CLI). A socket belongs to
/// the network namespace of the thread that created it, and a thread of a multithreaded process may
/// <c>setns(2)</c> into another network namespace: one dedicated thread does, and creates every socket; after
/// creation any thread uses them. Needs CAP_SYS_ADMIN over the namespace (root).
/// </summary>
public sealed class BoxNetworkNamespace : IDisposable
{
    private readonly BlockingCollection<Action> _work = new();
    private readonly Thread _thread;
    private int _disposed;

    /// <summary>Joins the namespace named by <paramref name="path"/> (e.g. <c>/proc/PID/ns/net</c>); throws when that is refused.</summary>
    public BoxNetworkNamespace(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        Path = path;
        var joined = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _thread = new Thread(() => Run(path, joined)) { IsBackground = true, Name = "box-netns" };
        _thread.Start();
        joined.Task.GetAwaiter().GetResult();
    }

    /// <summary>The namespace's path, as <c>nsenter --net=</c> accepts it.</summary>
    public string Path { get; }

    /// <summary>Creates a socket in the box's network namespace.</summary>
    public Socket CreateSocket(AddressFamily addressFamily, SocketType socketType, ProtocolType protocolType) =>
        Invoke(() => new Socket(addressFamily, socketType, protocolType));

    /// <summary>A TCP connection to <paramref name="endPoint"/> inside the box.</summary>
    public async Task<Socket> ConnectAsync(EndPoint endPoint, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        var family = endPoint.AddressFamily == AddressFamily.Unspecified ? AddressFamily.InterNetwork : endPoint.AddressFamily;
        var socket = CreateSocket(family, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.NoDelay = true;
            await socket.ConnectAsync(endPoint, cancellationToken).ConfigureAwait(false);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A listening TCP socket bound inside the box (for test servers there; Kestrel takes it through
    /// <c>ListenHandle((ulong)socket.Handle)</c>, or accept on it directly).
    /// </summary>
    public Socket CreateListenSocket(IPEndPoint endPoint, int backlog = 512)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        var socket = CreateSocket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Bind(endPoint);
            socket.Listen(backlog);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>A handler whose every connection is made inside the box; host names must be IP addresses (there is no DNS).</summary>
    public SocketsHttpHandler CreateHandler()
    {
        var handler = new SocketsHttpHandler { UseProxy = false };
        Configure(handler);
        return handler;
    }

    /// <summary>Makes <paramref name="handler"/> connect inside the box.</summary>
    public void Configure(SocketsHttpHandler handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        handler.UseProxy = false;
        handler.ConnectCallback = async (context, cancellationToken) =>
        {
            var endPoint = IPAddress.TryParse(context.DnsEndPoint.Host, out var address)
                ? (EndPoint)new IPEndPoint(address, context.DnsEndPoint.Port)
                : context.DnsEndPoint.Host == "localhost"
                    ? new IPEndPoint(IPAddress.Loopback, context.DnsEndPoint.Port)
                    : throw new HttpRequestException($"'{context.DnsEndPoint.Host}' is not an IP address; the box has no DNS.");
            var socket = await ConnectAsync(endPoint, cancellationToken).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        };
    }

    /// <summary>An <see cref="HttpClient"/> that connects inside the box; <paramref name="configure"/> sets TLS and the rest.</summary>
    public HttpClient CreateHttpClient(Action<SocketsHttpHandler>? configure = null)
    {
        var handler = CreateHandler();
        configure?.Invoke(handler);
        Configure(handler);
        return new HttpClient(handler);
    }

    /// <summary>Makes a KubernetesClient configuration connect inside the box (keeps any handler set-up it had).</summary>
    public KubernetesClientConfiguration Configure(KubernetesClientConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var previous = configuration.FirstMessageHandlerSetup;
        configuration.FirstMessageHandlerSetup = handler =>
        {
            previous?.Invoke(handler);
            Configure(handler);
        };
        return configuration;
    }

    /// <summary>A KubernetesClient configuration from a kubeconfig file, connecting inside the box.</summary>
    public KubernetesClientConfiguration CreateKubernetesConfiguration(string kubeconfigPath) =>
        Configure(KubernetesClientConfiguration.BuildConfigFromConfigFile(kubeconfigPath));

    /// <summary>Runs <paramref name="action"/> on the thread inside the namespace (e.g. to create a socket of another kind).</summary>
    public T Invoke<T>(Func<T> action)
    {
        ArgumentNullException.ThrowIfNull(action);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var result = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        _work.Add(() =>
        {
            try
            {
                result.SetResult(action());
            }
#pragma warning disable CA1031 // the caller receives whatever the action threw
            catch (Exception ex)
#pragma warning restore CA1031
            {
                result.SetException(ex);
            }
        });
        return result.Task.GetAwaiter().GetResult();
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _work.CompleteAdding();
            _thread.Join();
            _work.Dispose();
        }
    }

    private void Run(string path, TaskCompletionSource joined)
    {
        try
        {
            using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
            if (Libc.SetNs((int)handle.DangerousGetHandle(), Libc.CloneNewNet) != 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                throw new UnauthorizedAccessException(errno == 1
                    ? $"setns({path}) was refused (EPERM): joining the box's network namespace needs root (CAP_SYS_ADMIN over it). " +
                      $"Without root, run commands with `nsenter --user --preserve-credentials --net --target <unshare pid>` instead."
                    : $"setns({path}) failed with errno {errno}.");
            }
        }
#pragma warning disable CA1031 // reported to the constructor
        catch (Exception ex)
#pragma warning restore CA1031
        {
            joined.SetException(ex);
            return;
        }

        joined.SetResult();
        foreach (var work in _work.GetConsumingEnumerable())
        {
            work();
        }
    }
}
