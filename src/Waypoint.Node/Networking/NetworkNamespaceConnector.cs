using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Waypoint.Node.Networking;

/// <summary>
/// TCP connections made inside another network namespace (a pod's): a socket belongs to the namespace of the thread
/// that created it, so a fresh thread joins the namespace with <c>setns(2)</c>, creates the socket and ends (the
/// thread dies with the namespace it joined; no pooled thread is ever moved). The connect itself then runs anywhere.
/// Needs CAP_SYS_ADMIN over the namespace, as the runtime has in the box.
/// </summary>
internal static partial class NetworkNamespaceConnector
{
    private const int CloneNewNet = 0x40000000;

    /// <summary>Connects to <paramref name="endPoint"/> from inside the namespace file <paramref name="namespacePath"/> (null: this process's own).</summary>
    public static async Task<Socket> ConnectAsync(string? namespacePath, IPEndPoint endPoint, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        var socket = namespacePath is null
            ? new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp)
            : await CreateSocketInAsync(namespacePath, endPoint.AddressFamily).ConfigureAwait(false);
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

    private static Task<Socket> CreateSocketInAsync(string namespacePath, AddressFamily family)
    {
        var created = new TaskCompletionSource<Socket>(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                using (var handle = File.OpenHandle(namespacePath, FileMode.Open, FileAccess.Read))
                {
                    if (SetNs((int)handle.DangerousGetHandle(), CloneNewNet) != 0)
                    {
                        throw new IOException($"setns({namespacePath}) failed with errno {Marshal.GetLastPInvokeError()}.");
                    }
                }

                created.SetResult(new Socket(family, SocketType.Stream, ProtocolType.Tcp));
            }
#pragma warning disable CA1031 // handed to the caller
            catch (Exception ex)
#pragma warning restore CA1031
            {
                created.SetException(ex);
            }
        })
        {
            IsBackground = true,
            Name = "pod-netns-socket",
        };
        thread.Start();
        return created.Task;
    }

    [LibraryImport("libc", EntryPoint = "setns", SetLastError = true)]
    private static partial int SetNs(int fd, int nsType);
}
