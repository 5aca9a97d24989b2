using System.Text;

namespace Waypoint.Node.Containers;

/// <summary>Everything needed to start one container process.</summary>
internal sealed record ContainerLaunch
{
    public required string ContainerId { get; init; }

    /// <summary>The command line: the image's entrypoint (or the pod's command) and args.</summary>
    public required IReadOnlyList<string> Argv { get; init; }

    public required IReadOnlyDictionary<string, string> Environment { get; init; }

    public string WorkingDirectory { get; init; } = string.Empty;

    public IReadOnlyList<ContainerMount> Mounts { get; init; } = [];

    /// <summary>The pod's network namespace file; null for a host-network pod (the box's namespace).</summary>
    public string? NetworkNamespacePath { get; init; }

    /// <summary>A directory of the runtime's own where the mount script stages tmpfs copies before moving them into place.</summary>
    public required string StageDirectory { get; init; }

    public required string LogPath { get; init; }
}

/// <summary>
/// The command line that puts a container process in its pod: <c>setsid</c> (its own process group, so the whole
/// group can be signalled), <c>nsenter --net</c> (the pod's network namespace), <c>unshare --mount --propagation
/// private</c> (a mount namespace of its own) and a small <c>sh</c> script that bind-mounts the kubelet's mounts at
/// their container paths, changes to the working directory and <c>exec</c>s the container command. Every step
/// execs, so the process id started is the container's.
/// </summary>
/// <remarks>
/// A container path whose parent does not exist is never created on the host: the deepest existing ancestor is
/// replaced, inside the private mount namespace only, by a tmpfs that carries bind mounts of all its entries (so the
/// rest of it stays visible), and the missing directories are made there. An ancestor that would be <c>/</c> is refused.
/// </remarks>
internal static class ContainerCommandLine
{
    public const string Script = """
        set -e
        wp_made='|'
        wp_count=0
        wp_shadow() {
          wp_count=$((wp_count + 1)); n="$WP_STAGE/s$wp_count"
          mkdir -p -- "$n"; mount -t tmpfs -o mode=755 wp-node "$n"
          for e in "$1"/* "$1"/.[!.]* "$1"/..?*; do
            [ -e "$e" ] || [ -L "$e" ] || continue
            b=${e##*/}
            if [ -L "$e" ]; then ln -s -- "$(readlink -- "$e")" "$n/$b"
            elif [ -d "$e" ]; then mkdir -- "$n/$b"; mount --rbind -- "$e" "$n/$b"
            else : > "$n/$b"; mount --bind -- "$e" "$n/$b"; fi
          done
          mount --move -- "$n" "$1"
          wp_made="$wp_made$1|"
        }
        wp_mount() {
          t=$(realpath -m -- "$2")
          if [ ! -e "$t" ] && [ ! -L "$t" ]; then
            a=$(dirname -- "$t")
            while [ ! -e "$a" ]; do a=$(dirname -- "$a"); done
            case "$wp_made" in
              *"|$a|"*) ;;
              *) if [ "$a" = / ]; then echo "waypoint-node: cannot create $2: its top directory does not exist on this node" >&2; exit 127; fi
                 wp_shadow "$a" ;;
            esac
            if [ -d "$1" ]; then mkdir -p -- "$t"; else mkdir -p -- "$(dirname -- "$t")"; : > "$t"; fi
            d="$t"
            while [ "$d" != "$a" ]; do wp_made="$wp_made$d|"; d=$(dirname -- "$d"); done
          fi
          mount --rbind -- "$1" "$t"
          if [ "$3" = ro ]; then mount -o remount,bind,ro -- "$t"; fi
        }
        """;

    /// <summary>The script with one <c>wp_mount</c> per mount (parents first), the <c>cd</c> and the <c>exec</c>.</summary>
    public static string BuildScript(ContainerLaunch launch)
    {
        ArgumentNullException.ThrowIfNull(launch);
        var script = new StringBuilder(Script).Append('\n');
        foreach (var mount in launch.Mounts.OrderBy(m => m.ContainerPath.TrimEnd('/').Count(c => c == '/')).ThenBy(m => m.ContainerPath, StringComparer.Ordinal))
        {
            script.Append("wp_mount ").Append(Quote(mount.HostPath)).Append(' ').Append(Quote(mount.ContainerPath)).Append(mount.ReadOnly ? " ro" : " rw").Append('\n');
        }

        if (!string.IsNullOrEmpty(launch.WorkingDirectory))
        {
            script.Append("cd -- ").Append(Quote(launch.WorkingDirectory)).Append('\n');
        }

        script.Append("unset WP_STAGE\nexec \"$@\"\n");
        return script.ToString();
    }

    /// <summary>The full argv: the namespace tools, <c>sh -c SCRIPT</c>, then the container command as <c>"$@"</c>.</summary>
    public static IReadOnlyList<string> Build(ContainerLaunch launch, NodeTools tools)
    {
        ArgumentNullException.ThrowIfNull(launch);
        ArgumentNullException.ThrowIfNull(tools);
        var argv = new List<string> { tools.Setsid };
        if (launch.NetworkNamespacePath is { } netns)
        {
            argv.AddRange([tools.Nsenter, $"--net={netns}"]);
        }

        argv.AddRange([tools.Unshare, "--mount", "--propagation", "private", tools.Shell, "-c", BuildScript(launch), "waypoint-container"]);
        argv.AddRange(launch.Argv);
        return argv;
    }

    /// <summary>Single-quotes a word for <c>sh</c>.</summary>
    public static string Quote(string word) => "'" + word.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}

/// <summary>Absolute paths of the util-linux tools and shell the runtime uses, found once at start.</summary>
internal sealed record NodeTools(string Setsid, string Nsenter, string Unshare, string Shell)
{
    public static NodeTools Locate() => new(
        CommandRunner.Locate("setsid"), CommandRunner.Locate("nsenter"), CommandRunner.Locate("unshare"), CommandRunner.Locate("sh"));
}
