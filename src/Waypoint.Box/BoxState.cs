using System.Text.Json;
using System.Text.Json.Serialization;

namespace Waypoint.Box;

/// <summary>One running component of the box.</summary>
public sealed record BoxComponentState(string Name, int ProcessId, string LogPath);

/// <summary>The box's node: its name, the kubelet's pid and log, and the node's root folder (kubelet/, runtime/).</summary>
public sealed record BoxNodeState(string Name, int KubeletProcessId, string KubeletLogPath, string RootDirectory);

/// <summary>
/// What a running box writes to its state file so that a CLI or a test can attach (<see cref="KubernetesBox.AttachAsync"/>).
/// </summary>
public sealed record BoxState
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    public required string WorkDirectory { get; init; }

    /// <summary><c>/proc/&lt;unshare pid&gt;/ns/net</c>: what <c>nsenter --net=</c> and <see cref="Network.BoxNetworkNamespace"/> take.</summary>
    public required string NetworkNamespacePath { get; init; }

    /// <summary>The <c>net:[inode]</c> identity of that namespace (to find any process still in it).</summary>
    public string? NetworkNamespaceId { get; init; }

    /// <summary>The <c>unshare</c> process holding the namespaces; lives as long as the box.</summary>
    public required int UnshareProcessId { get; init; }

    /// <summary>The process hosting the box (inside the namespaces).</summary>
    public required int BoxProcessId { get; init; }

    /// <summary>
    /// A path of the box's private mount namespace (a pod's network namespace file, a kubelet volume) as a process
    /// outside the box reaches it: through the box process's root.
    /// </summary>
    public string OutsidePath(string pathInBox) => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"/proc/{BoxProcessId}/root{pathInBox}");

    /// <summary>Root, or UserNamespace (then joining the namespace from outside needs the user namespace too).</summary>
    public required string NamespaceMode { get; init; }

    public required string ApiServerUrl { get; init; }

    public required string AdminKubeconfigPath { get; init; }

    public required string PkiDirectory { get; init; }

    public required string CaCertificatePath { get; init; }

    public required IReadOnlyList<BoxComponentState> Components { get; init; }

    /// <summary>The node, once started (null with <c>--no-node</c>).</summary>
    public BoxNodeState? Node { get; init; }

    /// <summary>True once every component is ready.</summary>
    public bool Ready { get; init; }

    public static async Task<BoxState> ReadAsync(string path, CancellationToken cancellationToken)
    {
        var stream = File.OpenRead(path);
        await using (stream.ConfigureAwait(false))
        {
            return await JsonSerializer.DeserializeAsync<BoxState>(stream, Json, cancellationToken).ConfigureAwait(false)
                ?? throw new InvalidDataException($"{path} holds no box state.");
        }
    }

    public async Task WriteAsync(string path, CancellationToken cancellationToken)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(directory);
        var temporary = path + ".tmp";
        var stream = File.Create(temporary);
        await using (stream.ConfigureAwait(false))
        {
            await JsonSerializer.SerializeAsync(stream, this, Json, cancellationToken).ConfigureAwait(false);
        }

        File.Move(temporary, path, overwrite: true);
    }
}
